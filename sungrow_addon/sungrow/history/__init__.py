"""History: the plants' hourly energy as Home Assistant long-term statistics of their own."""
