"""The local Snowflake: an emulator on 127.0.0.1 that the real driver talks to (work in progress)."""
