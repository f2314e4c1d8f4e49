"""The `frycast` command: parses arguments and calls the room that does the work.

The outermost layer: it may import every room, and no room imports it."""
