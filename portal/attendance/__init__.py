"""Attendance data in: saving records with exact enrollment totals, CSV imports, demo data, the summary cache."""
