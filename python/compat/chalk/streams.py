"""chalk.streams on statefold."""

from statefold import FileSource, KafkaSource, stream

__all__ = ["FileSource", "KafkaSource", "stream"]
