# A Ctrl-C that lands while the firmware turns Ctrl-C off (VirtualBoard.ctrl_c_in_window()),
# loaded by vboard.py for that one start only.
#
# On the board the USB/UART receive ISR saw 0x03 while mp_interrupt_char was still 3 and called
# mp_sched_keyboard_interrupt(): the KeyboardInterrupt is pending, and the VM raises it only at
# its next pending-exception check (py/vm.c `pending_exception_check:`), reached through a jump
# opcode (DISPATCH_WITH_PEND_EXC_CHECK: JUMP, POP_JUMP_IF_*, POP_EXCEPT_JUMP, ...) or through
# mp_handle_pending() (ports/esp32/mphalport.c mp_hal_delay_ms calls it first, even for 0 ms),
# never at a call or a return. The Unix port raises a SIGINT at once instead
# (MICROPY_ASYNC_KBD_INTR), so this keeps the interrupt pending from the first
# micropython.kbd_intr(-1) and raises it at the first check it can see: a time.sleep*(), or the
# firmware's next use of `machine` or `micropython`. That is never earlier than upstream's; for
# main.py's first line it is after the `try` that turned Ctrl-C off, as upstream's
# POP_EXCEPT_JUMP (which pops the handler before it checks).
import sys
import time

_state = [1]  # 1: the Ctrl-C is on its way; 2: pending in the VM; 0: raised


def _check():
    if _state[0] == 2:
        _state[0] = 0
        raise KeyboardInterrupt


class _Pending:
    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        _check()
        return getattr(self._inner, name)


class _Micropython(_Pending):
    def kbd_intr(self, c):
        self._inner.kbd_intr(c)  # applied: no byte after this one interrupts
        if c < 0 and _state[0] == 1:
            _state[0] = 2  # ... but this one came just before


class _Time(_Pending):
    def sleep_ms(self, ms):
        _check()
        self._inner.sleep_ms(ms)

    def sleep(self, s):
        _check()
        self._inner.sleep(s)


sys.modules["micropython"] = _Micropython(sys.modules["micropython"])
sys.modules["machine"] = _Pending(sys.modules["machine"])
sys.modules["time"] = _Time(time)
