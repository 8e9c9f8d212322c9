"""The edge's caching rules and invalidation matching, as pure functions and one store."""

import threading

import pytest

from chaos_runner.sandbox.cache import (
    CacheDirectives,
    CachedObject,
    EdgeCache,
    InvalidationPath,
    error_lifetime,
    freshness_lifetime,
)
from chaos_runner.sandbox.distribution import Distribution

DATE = "Wed, 21 Oct 2037 07:28:00 GMT"
IN_AN_HOUR = "Wed, 21 Oct 2037 08:28:00 GMT"


def lifetime(
    headers: dict[str, str], min_ttl: float = 0, default: float = 300, max_ttl: float = 3600
) -> float | None:
    return freshness_lifetime(headers, min_ttl, default, max_ttl)


def test_s_maxage_wins_over_max_age_which_wins_over_expires() -> None:
    both = {"cache-control": "max-age=60, s-maxage=120", "expires": IN_AN_HOUR, "date": DATE}

    assert lifetime(both) == 120
    assert lifetime({"cache-control": "max-age=60", "expires": IN_AN_HOUR, "date": DATE}) == 60
    assert lifetime({"expires": IN_AN_HOUR, "date": DATE}) == 3600


def test_origin_ttls_are_clamped_to_min_and_max_ttl() -> None:
    assert lifetime({"cache-control": "max-age=5"}, min_ttl=30) == 30
    assert lifetime({"cache-control": "max-age=99999"}, max_ttl=3600) == 3600
    assert lifetime({"expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, min_ttl=7) == 7


def test_no_caching_headers_use_the_greater_of_default_and_min_ttl() -> None:
    assert lifetime({}) == 300
    assert lifetime({}, min_ttl=900) == 900


@pytest.mark.parametrize("directive", ["no-cache", "no-store", "private", "private, max-age=60"])
def test_uncacheable_directives_are_cached_only_for_a_min_ttl(directive: str) -> None:
    assert lifetime({"cache-control": directive}) is None
    assert lifetime({"cache-control": directive}, min_ttl=20) == 20


def test_stale_directives_are_parsed() -> None:
    found = CacheDirectives.parse('max-age=1, stale-while-revalidate=30, stale-if-error="60"')

    assert (found.stale_while_revalidate, found.stale_if_error) == (30, 60)


def test_errors_are_cached_for_the_error_caching_min_ttl_or_longer_max_age() -> None:
    assert error_lifetime(404, None) == 10
    assert error_lifetime(503, 1) == 1
    assert error_lifetime(404, 1, CacheDirectives.parse("max-age=30")) == 30


def test_some_4xx_are_cached_only_with_max_age() -> None:
    assert error_lifetime(403, 5) is None
    assert error_lifetime(403, 5, CacheDirectives.parse("s-maxage=20")) == 20
    assert error_lifetime(416, None) is None  # never cached


def test_invalidation_paths_are_exact_or_end_with_a_wildcard() -> None:
    assert InvalidationPath("/posts/a/").matches("/posts/a/")
    assert not InvalidationPath("/posts/a/").matches("/posts/a/index.html")
    assert InvalidationPath("/posts/*").matches("/posts/a/")
    assert InvalidationPath("/posts*").matches("/posts")
    assert not InvalidationPath("/Posts/*").matches("/posts/a/")
    assert InvalidationPath("/*").matches("/")


def make(key: str, now: float = 0.0) -> CachedObject:
    return CachedObject(key, 200, (), b"", now, now + 60)


def test_a_store_begun_before_a_matching_invalidation_is_dropped() -> None:
    cache = EdgeCache()
    epoch = cache.epoch

    cache.invalidate(["/a"])

    assert not cache.put(make("/a"), epoch)  # in flight when /a was invalidated
    assert cache.put(make("/b"), epoch)  # unrelated key
    assert cache.get("/a") is None and cache.get("/b") is not None


def test_invalidation_from_another_thread_is_in_effect_when_it_returns() -> None:
    cache = EdgeCache()
    for index in range(100):
        cache.put(make(f"/p/{index}"), cache.epoch)

    worker = threading.Thread(target=cache.invalidate, args=(["/p/*"],))
    worker.start()
    worker.join()

    assert len(cache) == 0


def test_the_store_is_bounded() -> None:
    cache = EdgeCache(max_objects=3)
    for key in ("/1", "/2", "/3", "/4"):
        cache.put(make(key), cache.epoch)

    assert cache.get("/1") is None and len(cache) == 3


def test_path_patterns_match_with_wildcards_case_sensitively() -> None:
    config = {
        "DefaultCacheBehavior": {"TargetOriginId": "o", "MinTTL": 0},
        "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "o.test"}]},
        "CacheBehaviors": {
            "Quantity": 3,
            "Items": [
                {"PathPattern": "images/*.jpg", "TargetOriginId": "o", "MinTTL": 1},
                {"PathPattern": "/doc?.html", "TargetOriginId": "o", "MinTTL": 2},
                {"PathPattern": "/images/*", "TargetOriginId": "o", "MinTTL": 3},
            ],
        },
    }
    distribution = Distribution.from_config("E1", config)

    def min_ttl(path: str) -> float:
        return distribution.behavior_for(path).min_ttl

    assert min_ttl("/images/a/b.jpg") == 1  # first match wins; leading / optional
    assert min_ttl("/images/b.png") == 3
    assert min_ttl("/doc1.html") == 2
    assert min_ttl("/doc12.html") == 0
    assert min_ttl("/IMAGES/b.jpg") == 0
