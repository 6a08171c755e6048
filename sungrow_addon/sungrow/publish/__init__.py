"""Where the states go: Home Assistant over REST or MQTT, or the terminal."""
