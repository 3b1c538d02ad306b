"""Reports built from communication runs."""
