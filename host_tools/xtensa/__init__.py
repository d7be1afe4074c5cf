"""Read the Xtensa machine code that mpy-cross emits for native/viper functions, and count it.

  mpyfile   the .mpy container: which raw code is which function, and its machine code
  decode    a decoder for the instructions upstream's emitter (py/asmxtensa.[ch]) produces
  loops     control-flow graph of one function, its natural loops and their bodies
"""
