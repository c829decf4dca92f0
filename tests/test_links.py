from __future__ import annotations

import pytest

from recommender.sources.links import (
    ACCEPTED_FORMS,
    LinkError,
    VideoLink,
    find_video_link,
    parse_link,
    parse_video_id,
    watch_url,
)

ID = "dQw4w9WgXcQ"

ACCEPTED = [
    ID,
    f"  {ID}  ",
    f"https://www.youtube.com/watch?v={ID}",
    f"http://www.youtube.com/watch?v={ID}",
    f"https://youtube.com/watch?v={ID}",
    f"youtube.com/watch?v={ID}",
    f"www.youtube.com/watch?v={ID}",
    f"https://m.youtube.com/watch?v={ID}",
    f"https://music.youtube.com/watch?v={ID}",
    f"https://www.youtube.com/watch?v={ID}&t=42s",
    f"https://www.youtube.com/watch?v={ID}&list=PL1234567890&index=3",
    f"https://www.youtube.com/watch?feature=share&v={ID}",
    f"https://www.youtube.com/watch?v={ID}&si=AbCdEf123",
    f"https://youtu.be/{ID}",
    f"https://youtu.be/{ID}?si=xyz&t=10",
    f"youtu.be/{ID}",
    f"https://www.youtube.com/shorts/{ID}",
    f"https://youtube.com/shorts/{ID}?feature=share",
    f"https://www.youtube.com/embed/{ID}",
    f"https://www.youtube-nocookie.com/embed/{ID}",
    f"https://www.youtube.com/live/{ID}",
    f"https://www.youtube.com/live/{ID}?si=abc",
    f"<https://www.youtube.com/watch?v={ID}>",
    f" <https://youtu.be/{ID}> ",
    f"HTTPS://WWW.YOUTUBE.COM/watch?v={ID}",
    f"https://www.youtube.com./watch?v={ID}",
    f"https://www.youtube.com:443/watch?v={ID}",
]

REFUSED = [
    ("", "empty"),
    ("   ", "empty"),
    ("<>", "empty"),
    ("https://vimeo.com/123456", "not YouTube"),
    (f"https://youtube.com.evil.example/watch?v={ID}", "not YouTube"),
    (f"https://evil.example/?v={ID}&u=youtube.com", "not YouTube"),
    (f"https://evil.example/youtube.com/watch?v={ID}", "not YouTube"),
    (f"https://notyoutube.com/watch?v={ID}", "not YouTube"),
    (f"https://youtube.co/watch?v={ID}", "not YouTube"),
    (f"https://www.youtube.com@evil.example/watch?v={ID}", "user name or password"),
    (f"https://user:pass@www.youtube.com/watch?v={ID}", "user name or password"),
    ("file:///etc/passwd", "scheme"),
    ("ftp://www.youtube.com/watch?v=dQw4w9WgXcQ", "scheme"),
    ("javascript:alert(1)", ""),
    ("data:text/html,<b>hi</b>", ""),
    (f"http://127.0.0.1/watch?v={ID}", "not YouTube"),
    (f"http://[::1]/watch?v={ID}", "not YouTube"),
    (f"http://142.250.74.46/watch?v={ID}", "not YouTube"),
    (f"https://www.youtube.com:8080/watch?v={ID}", "port"),
    ("https://www.youtube.com/playlist?list=PL1234567890", "playlist"),
    ("https://www.youtube.com/watch?list=PL1234567890", "playlist"),
    ("https://www.youtube.com/@SomeChannel", "channel"),
    ("https://www.youtube.com/channel/UC1234567890", "channel"),
    ("https://www.youtube.com/c/SomeName", "channel"),
    ("https://www.youtube.com/results?search_query=jazz", "search"),
    ("https://www.youtube.com/", "does not name a video"),
    ("https://www.youtube.com/watch?v=short", "does not name a video"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQextra", "does not name a video"),
    (f"https://www.youtube.com/watch?v={ID}&v=aaaaaaaaaaa", "does not name a video"),
    ("https://youtu.be/", "does not name a video"),
    (f"https://youtu.be/{ID}/extra", "does not name a video"),
    ("dQw4w9WgXc", "has 10 characters, and YouTube video ids have exactly 11"),
    ("dQw4w9WgXcQQ", "has 12 characters, and YouTube video ids have exactly 11"),
    ("dQw4w9WgX!Q", "not YouTube"),
    (f"https://www.youtube.com/watch?v={ID} https://youtu.be/{ID}", "spaces"),
    ("https://" + "a" * 600 + ".com", "longer than"),
    (f"https://www.youtube.com/shorts/{ID}/{ID}", "does not name a video"),
    ("youtube", "not YouTube"),
    ("http://", "no host"),
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted(text: str) -> None:
    assert parse_video_id(text) == ID


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_refused_with_what_is_accepted(text: str, reason: str) -> None:
    with pytest.raises(LinkError) as caught:
        parse_video_id(text)
    assert reason in str(caught.value)
    assert ACCEPTED_FORMS in str(caught.value)


def test_watch_url() -> None:
    assert watch_url(ID) == f"https://www.youtube.com/watch?v={ID}"
    assert watch_url(ID, 30.0) == f"https://www.youtube.com/watch?v={ID}&t=30s"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("listen [here](https://youtu.be/A1ak2lKtjTk)", "https://youtu.be/A1ak2lKtjTk"),
        ("try https://youtu.be/A1ak2lKtjTk.", "https://youtu.be/A1ak2lKtjTk"),
        (
            "(see https://www.youtube.com/watch?v=A1ak2lKtjTk)!",
            "https://www.youtube.com/watch?v=A1ak2lKtjTk",
        ),
        ("<https://youtu.be/A1ak2lKtjTk> so good", "https://youtu.be/A1ak2lKtjTk"),
        ("first https://example.com/x then youtu.be/A1ak2lKtjTk", "youtu.be/A1ak2lKtjTk"),
        ("a bare id A1ak2lKtjTk is too ambiguous", None),
        (
            "https://www.youtube.com/@channel, https://youtu.be/A1ak2lKtjTk",
            "https://youtu.be/A1ak2lKtjTk",
        ),
    ],
)
def test_a_link_is_found_wherever_a_message_puts_it(text: str, expected: str | None) -> None:
    assert find_video_link(text) == expected


def test_a_linked_moment_is_kept() -> None:
    assert parse_link(f"https://www.youtube.com/watch?v={ID}&t=42s").start_s == 42.0
    assert parse_link(f"https://youtu.be/{ID}?t=1m30s").start_s == 90.0
    assert parse_link(f"https://youtu.be/{ID}?t=1h0m5s").start_s == 3605.0
    assert parse_link(f"https://youtu.be/{ID}").start_s is None
    assert parse_link(ID) == VideoLink(ID, None)


def test_near_miss_ids_and_long_inputs_are_told_clearly() -> None:
    with pytest.raises(LinkError, match="has 12 characters, and YouTube video ids have exactly 11"):
        parse_video_id("A-7dmBdsFXcX")
    with pytest.raises(LinkError) as raised:
        parse_video_id("https://" + "x" * 400 + ".example/")
    assert len(str(raised.value)) < 400 and "…" in str(raised.value)
