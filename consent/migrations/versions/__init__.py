"""The consent database's migrations, oldest first."""
