"""The iSolarCloud Open API: transport, authentication, models and the client."""
