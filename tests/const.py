"""Credentials of the test application and account: distinctive, so logs can be searched."""

APPKEY = "A1B2C3D4E5F60718293A4B5C6D7E8F90"
SECRET_KEY = "sk-test-5ecret-0f-the-app-1234567"
USERNAME = "owner@example.org"
PASSWORD = "Pa55-w0rd-never-logged"
USER_ID = 4242
PS_ID = 5694969
PLANT_PS_KEY = f"{PS_ID}_11_0_0"
HA_TOKEN = "supervisor-token-never-logged-0123"
