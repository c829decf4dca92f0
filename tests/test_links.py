from __future__ import annotations

import pytest

from recommender.links import ACCEPTED_FORMS, LinkError, parse_video_id, watch_url

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
    ("dQw4w9WgXc", "not YouTube"),
    ("dQw4w9WgXcQQ", "not YouTube"),
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
