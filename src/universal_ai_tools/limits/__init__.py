"""Rate limits, token budgets and login throttling over shared counters.

`base` holds the `CounterStore` protocol, the `RateLimited` error and the policies built on
a store (`RequestRateLimiter`, `TokenBudget`, `LoginThrottle`); `memory` holds the
in-process store. A Redis store implements the same protocol for scale-out mode.
"""
