"""Bulk CSV import of chat users: reading, mapping, validation, upsert, and the job services."""
