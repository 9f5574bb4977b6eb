from forwardpass.limits.memory import MemoryRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_gives_its_burst_then_one_request_per_token() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    assert [limiter.take("d", 2.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("d", 2.0, 3) == 0.5  # a token every half second
    clock.now += 0.25
    assert limiter.take("d", 2.0, 3) == 0.25  # refused requests take nothing
    clock.now += 0.25
    assert limiter.take("d", 2.0, 3) == 0.0
    clock.now += 60
    assert [limiter.take("d", 2.0, 3) for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]  # capped


def test_deployments_have_their_own_buckets() -> None:
    limiter = MemoryRateLimiter(Clock())
    assert limiter.take("a", 1.0, 1) == 0.0
    assert limiter.take("a", 1.0, 1) > 0
    assert limiter.take("b", 1.0, 1) == 0.0
