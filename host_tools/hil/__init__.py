"""Hardware in the loop: the behaviour suite, the targets it drives, and running it on racks."""
