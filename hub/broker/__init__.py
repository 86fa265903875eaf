"""The MQTT broker: embedded Mosquitto and dynamic-security provisioning."""
