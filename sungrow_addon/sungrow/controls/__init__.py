"""Control from Home Assistant: battery and export settings through parameter setting."""
