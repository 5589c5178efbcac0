"""Readers and writers of account records."""
