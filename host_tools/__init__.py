"""Earshot host tools: the `earshot` command and its library.

    cli/       the command line: a dispatch table and one thin module per command
    link/      the serial port and Earshot protocol v1 (the one place that opens a port)
    board/     board files, firmware build and deploy, provisioning and keys, on-board bench
    records/   what leaves a board: signed sessions, captures, the transparency log
    flash/     MicroPython onto a real ESP32-S3 with esptool
    sim/       the virtual board: MicroPython Unix port, simulated world, ROM bootloader
    hil/       the behaviour suite and the targets it runs on (virtual or real boards)
    wakeword/  wake-word data, training, scoring and benchmarks
    xtensa/    reading the xtensawin machine code mpy-cross emits (make bench-cost)

    vocabulary.py  the words for consent, LEDs and board time every command uses
    resources.py   where the shipped firmware, boards, models, audio and suite are
"""
