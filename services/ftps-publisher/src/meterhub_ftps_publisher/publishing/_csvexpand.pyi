# The compiled interval-file expansion (_csvexpand.c).

def expand_into(
    out: bytearray,
    out_pos: int,
    stop_at: int,
    data: bytes,
    pos: int,
    end: int,
    usage_date: bytes,
    times: tuple[bytes, ...],
    tails: dict[bytes, bytes],
    expected: int,
    last_esiid: bytes,
    /,
) -> tuple[int, int, int, int, bytes]: ...
