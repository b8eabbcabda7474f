"""Periodic job registry and scheduler entry point (placeholder until the jobs service lands)."""

import time

if __name__ == "__main__":
    while True:
        time.sleep(3600)
