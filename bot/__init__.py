"""Loa: the Đắk Lắk outreach bot for the end of 2G mobile service."""
