"""Trace-driven and recorded links (pure parts): trace files → replay schedules, recordings → profiles.

- `mahimahi`, `series`: the two trace formats, parsed with `file:line` errors; `load` tells them apart
  by content.
- `window`: a packet-delivery trace → one rate per window (netem cannot schedule single opportunities).
- `schedule`: what is configured at each instant of a trace (changes, period, looping).
- `scheduler`: replays schedules against an injected clock and records each change's lateness.
- `gefit`, `distribution`: a Gilbert-Elliott fit of loss runs; an empirical delay table (maketable format).
- `recorder`, `fidelity`: a client raw file → profile + trace; recording vs replay compared.

Nothing here touches the network or the clock; the shells live in the backends and commands.
"""
