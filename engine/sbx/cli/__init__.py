"""The docker-like command line: option parsing, output formatting and the sbx commands."""
