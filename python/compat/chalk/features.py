"""chalk.features on statefold."""

from statefold import Feature, Features, Primary, features

__all__ = ["Feature", "Features", "Primary", "features"]
