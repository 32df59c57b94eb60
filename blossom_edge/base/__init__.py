"""What every layer stands on: errors, signals, atomic outputs, bounded readers, sizes, digests, disk space, the consoles."""
