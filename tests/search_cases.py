"""Search result lists as YouTube gives them for what members type, each with the result a
person would pick (None: none of them is the song). Titles, channels and lengths follow
the shapes of real results: official videos with intros, "- Topic" uploads, lyric videos,
live cuts, covers, slowed and nightcore edits, hour-long loops, other songs with the same
title. ``known`` is the song's length when another source told it (a Spotify track)."""

from __future__ import annotations

from recommender.sources.words import Candidate

S, V = True, False  # from YouTube Music's "songs" results, or a plain video result


def c(title: str, channel: str, seconds: float | None, song: bool = V) -> Candidate:
    return Candidate(title, channel, seconds, song)


CASES: list[tuple[str, float | None, list[Candidate], int | None]] = [
    (
        "daft punk one more time",
        None,
        [
            c("Daft Punk - One More Time (Official Video)", "Daft Punk", 322),
            c("One More Time", "Daft Punk - Topic", 320, S),
            c("Daft Punk - One More Time (Live at Alive 2007)", "Daft Punk Live", 412),
            c("one more time - daft punk (slowed + reverb)", "slowed vibes", 391),
        ],
        1,
    ),
    (
        "bohemian rhapsody queen",
        None,
        [
            c("Queen – Bohemian Rhapsody (Official Video Remastered)", "Queen Official", 359),
            c("Bohemian Rhapsody (Remastered 2011)", "Queen - Topic", 355, S),
            c("Bohemian Rhapsody - Queen (Lyrics)", "7clouds Rock", 356),
            c("Queen - Bohemian Rhapsody (Live Aid 1985)", "Queen Official", 360),
        ],
        1,
    ),
    (
        "dolly parton jolene",
        None,
        [
            c("Dolly Parton - Jolene (Audio)", "Dolly Parton", 162),
            c("Jolene (cover) - Miley Cyrus", "MileyCyrusVEVO", 227),
            c("Dolly Parton - Jolene (Live)", "Dolly Parton", 201),
            c("Jolene but it's slowed to 33 rpm", "ambient edits", 312),
        ],
        0,
    ),
    (
        "billie eilish bad guy",
        None,
        [
            c("Billie Eilish - bad guy (Official Music Video)", "BillieEilishVEVO", 235),
            c("bad guy", "Billie Eilish - Topic", 194, S),
            c("billie eilish - bad guy (sped up)", "sped up songs", 160),
            c("Billie Eilish - bad guy (Live From The Grammys)", "BillieEilishVEVO", 230),
        ],
        1,
    ),
    (
        "the weeknd blinding lights",
        None,
        [
            c("The Weeknd - Blinding Lights (Official Video)", "TheWeekndVEVO", 263),
            c("The Weeknd - Blinding Lights (Official Audio)", "TheWeekndVEVO", 201),
            c("blinding lights - the weeknd (nightcore)", "Nightcore Realm", 170),
            c("The Weeknd - Blinding Lights 1 HOUR", "Loop Station", 3600),
        ],
        1,
    ),
    (
        "toto africa",
        None,
        [
            c("Toto - Africa (Official HD Video)", "TotoVEVO", 275),
            c("Africa", "TOTO - Topic", 295, S),
            c("Africa by Toto but it's in an empty shopping centre", "Cecil Robert", 302),
            c("Toto - Africa (Live in Amsterdam)", "Toto", 380),
        ],
        1,
    ),
    (
        "nirvana smells like teen spirit",
        None,
        [
            c("Nirvana - Smells Like Teen Spirit (Official Music Video)", "NirvanaVEVO", 279),
            c("Smells Like Teen Spirit", "Nirvana - Topic", 301, S),
            c("Smells Like Teen Spirit (Live at Reading 1992)", "Nirvana", 276),
            c("Smells Like Teen Spirit - Piano Version", "Piano Covers", 240),
        ],
        1,
    ),
    (
        "a-ha take on me",
        None,
        [
            c("a-ha - Take On Me (Official Video) [Remastered in 4K]", "a-ha", 246),
            c('Take On Me (1985 12" Version)', "a-ha - Topic", 284, S),
            c("Take on Me", "a-ha - Topic", 225, S),
            c("Take On Me - Weezer (cover)", "Weezer", 230),
        ],
        2,  # the song as released; the 12" version is another cut
    ),
    (
        "lofi hip hop beats to study to",
        None,
        [
            c("lofi hip hop radio 📚 - beats to relax/study to", "Lofi Girl", None),
            c("1 A.M Study Session 📚 - [lofi hip hop/chill beats]", "Lofi Girl", 3620),
            c("lofi hip hop beats to study to", "Chillhop Music - Topic", 150, S),
        ],
        2,
    ),
    (
        "adele hello",
        None,
        [
            c("Adele - Hello (Official Music Video)", "AdeleVEVO", 367),
            c("Hello", "Adele - Topic", 295, S),
            c("Lionel Richie - Hello", "LionelRichieVEVO", 331),
            c("Adele - Hello (Live at the NRJ Awards)", "NRJ", 330),
        ],
        1,
    ),
    (
        "hello lionel richie",
        None,
        [
            c("Hello", "Adele - Topic", 295, S),
            c("Lionel Richie - Hello (Official Music Video)", "LionelRichieVEVO", 331),
            c("Hello", "Lionel Richie - Topic", 245, S),
        ],
        2,
    ),
    (
        "hurt johnny cash",
        None,
        [
            c("Johnny Cash - Hurt (Official Music Video)", "JohnnyCashVEVO", 218),
            c("Hurt", "Johnny Cash - Topic", 218, S),
            c("Nine Inch Nails - Hurt", "NineInchNailsVEVO", 373),
        ],
        1,
    ),
    (
        "hurt nine inch nails",
        None,
        [
            c("Hurt", "Johnny Cash - Topic", 218, S),
            c("Nine Inch Nails - Hurt (Official Video)", "NineInchNailsVEVO", 373),
            c("Hurt (Quiet)", "Nine Inch Nails - Topic", 374, S),
        ],
        1,
    ),
    (
        "mr brightside",
        None,
        [
            c("The Killers - Mr. Brightside (Official Music Video)", "TheKillersVEVO", 227),
            c("Mr. Brightside", "The Killers - Topic", 223, S),
            c("Mr. Brightside (Jacques Lu Cont Remix)", "The Killers - Topic", 316, S),
            c("mr brightside but its lofi", "lofi edits", 190),
        ],
        1,
    ),
    (
        "despacito",
        None,
        [
            c("Luis Fonsi - Despacito ft. Daddy Yankee", "LuisFonsiVEVO", 282),
            c("Despacito (feat. Daddy Yankee)", "Luis Fonsi - Topic", 229, S),
            c("Despacito - Remix ft. Justin Bieber", "LuisFonsiVEVO", 232),
            c("Despacito 10 hours", "ten hour songs", 36000),
        ],
        1,
    ),
    (
        "radiohead creep acoustic",
        None,
        [
            c("Radiohead - Creep", "Radiohead", 239),
            c("Creep", "Radiohead - Topic", 238, S),
            c("Radiohead - Creep (Acoustic)", "Radiohead", 261),
            c("Creep (Acoustic)", "Radiohead - Topic", 260, S),
        ],
        3,
    ),
    (
        "gangnam style",
        None,
        [
            c("PSY - GANGNAM STYLE(강남스타일) M/V", "officialpsy", 252),
            c("Gangnam Style", "PSY - Topic", 219, S),
            c("Gangnam Style (Reaction)", "react channel", 600),
        ],
        1,
    ),
    (
        "sigur ros hoppipolla",
        None,
        [
            c("Sigur Rós - Hoppípolla (Official Video)", "Sigur Rós", 271),
            c("Hoppípolla", "Sigur Rós - Topic", 268, S),
            c("Hoppipolla piano tutorial", "piano lessons", 420),
        ],
        1,
    ),
    (
        "fleetwood mac dreams",
        None,
        [
            c("Fleetwood Mac - Dreams (Official Music Video)", "Fleetwood Mac", 258),
            c("Dreams (2004 Remaster)", "Fleetwood Mac - Topic", 257, S),
            c("The Cranberries - Dreams", "TheCranberriesTV", 272),
            c("Dreams - Fleetwood Mac (Live at the Forum)", "Fleetwood Mac", 290),
        ],
        1,
    ),
    (
        "dreams cranberries",
        None,
        [
            c("Dreams (2004 Remaster)", "Fleetwood Mac - Topic", 257, S),
            c("The Cranberries - Dreams (Official Music Video)", "TheCranberriesTV", 272),
            c("Dreams", "The Cranberries - Topic", 271, S),
        ],
        2,
    ),
    (
        "kendrick lamar humble",
        None,
        [
            c("Kendrick Lamar - HUMBLE.", "KendrickLamarVEVO", 177),
            c("HUMBLE.", "Kendrick Lamar - Topic", 177, S),
            c("HUMBLE. (Skrillex Remix)", "Kendrick Lamar - Topic", 183, S),
        ],
        1,
    ),
    (
        "clair de lune debussy",
        None,
        [
            c("Debussy - Clair de Lune", "Rousseau", 330),
            c("Suite bergamasque, L. 75: III. Clair de lune", "Claude Debussy - Topic", 301, S),
            c("Clair de Lune (10 hours)", "calm music", 36000),
            c("Debussy - Clair de Lune (Piano Tutorial)", "tutorials", 600),
        ],
        1,
    ),
    (
        "one more time daft punk",
        320,
        [
            c("Daft Punk - One More Time (Official Video)", "Daft Punk", 322),
            c("One More Time (Short Radio Edit)", "Daft Punk - Topic", 231, S),
            c("One More Time", "Daft Punk - Topic", 320, S),
        ],
        2,
    ),
    (
        "stay the kid laroi justin bieber",
        141,
        [
            c("The Kid LAROI, Justin Bieber - STAY (Official Video)", "TheKidLAROIVEVO", 157),
            c("STAY", "The Kid LAROI - Topic", 141, S),
            c("STAY (sped up)", "speedy", 115),
        ],
        1,
    ),
    (
        "stay rihanna",
        240,
        [
            c("STAY", "The Kid LAROI - Topic", 141, S),
            c("Rihanna - Stay ft. Mikky Ekko", "RihannaVEVO", 250),
            c("Stay", "Rihanna - Topic", 240, S),
        ],
        2,
    ),
    (
        "as it was harry styles",
        167,
        [
            c("Harry Styles - As It Was (Official Video)", "HarryStylesVEVO", 166),
            c("As It Was", "Harry Styles - Topic", 167, S),
            c("Harry Styles - As It Was (Live from One Night Only)", "HarryStylesVEVO", 190),
        ],
        1,
    ),
    (
        "rick astley never gonna give you up",
        None,
        [
            c("Rick Astley - Never Gonna Give You Up (Official Music Video)", "Rick Astley", 213),
            c("Never Gonna Give You Up", "Rick Astley - Topic", 214, S),
            c("Never Gonna Give You Up but it's a 8D audio", "8D Tunes", 214),
        ],
        1,
    ),
    (
        "stairway to heaven",
        None,
        [
            c("Led Zeppelin - Stairway To Heaven (Official Audio)", "Led Zeppelin", 482),
            c("Stairway to Heaven (Remaster)", "Led Zeppelin - Topic", 482, S),
            c("Heart - Stairway to Heaven (Kennedy Center Honors)", "HeartVEVO", 425),
        ],
        1,
    ),
    (
        "aphex twin avril 14th",
        None,
        [
            c("Aphex Twin - Avril 14th", "Warp Records", 125),
            c("avril 14th", "Aphex Twin - Topic", 125, S),
            c("Avril 14th - 1 hour loop", "hour loops", 3600),
        ],
        1,
    ),
    (
        "fur elise",
        None,
        [
            c("Für Elise (Beethoven) - Piano Tutorial", "Piano Lessons", 500),
            c(
                'Bagatelle No. 25 in A Minor, WoO 59 "Für Elise"',
                "Ludwig van Beethoven - Topic",
                180,
                S,
            ),
            c("Beethoven - Für Elise (10 Hours)", "classical loops", 36000),
        ],
        1,
    ),
    (
        "blue da ba dee eiffel 65",
        None,
        [
            c("Eiffel 65 - Blue (Da Ba Dee) [Gabry Ponte Ice Pop Radio]", "Bliss Corporation", 220),
            c("Blue (Da Ba Dee)", "Eiffel 65 - Topic", 283, S),
            c("Blue (Da Ba Dee) - Nightcore", "nightcore hub", 240),
        ],
        1,
    ),
    (
        "zzqx unheard of song by nobody",
        None,
        [
            c("Relaxing Piano Music 24/7", "Soothing Relaxation", None),
            c("Top 50 Songs This Week", "Charts", 3000),
        ],
        None,
    ),
]

# Written after the rules were settled, and never tuned against: the honest figure.
HELD_OUT: list[tuple[str, float | None, list[Candidate], int | None]] = [
    (
        "michael jackson billie jean",
        None,
        [
            c("Michael Jackson - Billie Jean (Official Video)", "michaeljacksonVEVO", 294),
            c("Billie Jean", "Michael Jackson - Topic", 294, S),
            c("Billie Jean (Live at Motown 25)", "michaeljacksonVEVO", 330),
            c("Billie Jean - Chris Cornell (Acoustic Cover)", "acoustic covers", 290),
        ],
        1,
    ),
    (
        "coldplay yellow",
        None,
        [
            c("Coldplay - Yellow (Official Video)", "Coldplay", 269),
            c("Yellow", "Coldplay - Topic", 266, S),
            c("Coldplay - Yellow (Live in Buenos Aires)", "Coldplay", 300),
        ],
        1,
    ),
    (
        "ed sheeran shape of you",
        234,
        [
            c("Ed Sheeran - Shape of You (Official Music Video)", "Ed Sheeran", 263),
            c("Shape of You", "Ed Sheeran - Topic", 234, S),
            c("Shape of You (Stormzy Remix)", "Ed Sheeran - Topic", 262, S),
            c("shape of you - slowed + reverb", "slowed", 290),
        ],
        1,
    ),
    (
        "pink floyd wish you were here",
        None,
        [
            c("Pink Floyd - Wish You Were Here (Official Music Video)", "Pink Floyd", 338),
            c("Wish You Were Here", "Pink Floyd - Topic", 334, S),
            c("Wish You Were Here - Guitar Lesson", "guitar lessons", 900),
            c("Wish You Were Here (Live 8)", "Pink Floyd", 320),
        ],
        1,
    ),
    (
        "tame impala the less i know the better",
        None,
        [
            c("Tame Impala - The Less I Know The Better (Official Video)", "TameImpalaVEVO", 269),
            c("The Less I Know The Better", "Tame Impala - Topic", 216, S),
            c("the less i know the better (sped up)", "sped", 180),
        ],
        1,
    ),
    (
        "gnarls barkley crazy",
        None,
        [
            c("Gnarls Barkley - Crazy (Official Video)", "Gnarls Barkley", 182),
            c("Crazy", "Gnarls Barkley - Topic", 178, S),
            c("Crazy", "Patsy Cline - Topic", 161, S),
            c("Crazy - Seal", "SealVEVO", 270),
        ],
        1,
    ),
    (
        "the beatles let it be",
        None,
        [
            c("The Beatles - Let It Be", "The Beatles", 243),
            c("Let It Be (Remastered 2009)", "The Beatles - Topic", 243, S),
            c("Let It Be (Naked Version)", "The Beatles - Topic", 234, S),
            c("Let It Be - Piano Tutorial", "piano", 700),
        ],
        1,
    ),
    (
        "kate bush running up that hill",
        300,
        [
            c("Kate Bush - Running Up That Hill - Official Music Video", "KateBushMusic", 306),
            c("Running Up That Hill (A Deal With God)", "Kate Bush - Topic", 300, S),
            c("Running Up That Hill (2012 Remix)", "Kate Bush - Topic", 300, S),
        ],
        1,
    ),
    (
        "oasis wonderwall",
        None,
        [
            c("Oasis - Wonderwall (Official Video)", "Oasis", 259),
            c("Wonderwall (Remastered)", "Oasis - Topic", 258, S),
            c("Wonderwall - Ryan Adams", "RyanAdamsVEVO", 230),
            c("Oasis - Wonderwall 1 hour", "hour loops", 3600),
        ],
        1,
    ),
    (
        "queen dont stop me now",
        None,
        [
            c("Queen - Don't Stop Me Now (Official Video)", "Queen Official", 217),
            c("Don't Stop Me Now (Remastered 2011)", "Queen - Topic", 209, S),
            c("Don't Stop Me Now (Live at Hammersmith)", "Queen Official", 240),
        ],
        1,
    ),
]
