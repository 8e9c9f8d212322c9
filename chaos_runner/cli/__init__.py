"""The `chaos` subcommands of chaostoolkit-cdn (Typer apps behind thin click commands)."""
