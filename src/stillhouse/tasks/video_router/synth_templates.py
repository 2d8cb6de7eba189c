"""Templates for the query synthesizer, per intent and difficulty, plus edge-case material.

Slots in braces name a vocabulary list (``{subject}`` -> ``vocab.SUBJECTS``; a trailing digit, as in
``{instrument2}``, draws a second, different value from the same list). Foreign templates read the
language's own lists in :data:`FOREIGN_VOCAB` first.
"""

from __future__ import annotations

# Hand-laid tables: a line per theme reads better than the formatter's line per word.
# fmt: off

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "visual": {
        "easy": ("{scene}", "{colour} {object}", "{subject} {action}", "{colour} {object} {place}"),
        "medium": (
            "{subject} {action} {place}",
            "{subject} {action} {place} {time}",
            "{colour} {object} {place} {time}",
            "{scene} with a {colour} {object} in the foreground",
        ),
        "hard": (
            "that clip where {subject} is {action} {place} and a {colour} {object} goes past",
            "shot of {subject} {action}, everything lit in {colour}",
            "sign that says '{sign}' {place}",
            "what does it look like when {subject} is {action} {time}",
        ),
    },
    "audio": {
        "easy": ("{sound}", "sound of {sound}", "{instrument} music", "{style} {instrument} {music_verb}"),
        "medium": (
            "{sound} in the background {place}",
            "{style} {instrument} and {instrument2} {music_verb}",
            "{sound} followed by {sound2}",
            "{style} {instrument} {music_verb} with {sound}",
        ),
        "hard": (
            "clip where you can hear {sound} but nobody talks",
            "the noise of {sound} echoing {place}",
            "something that sounds like {sound} mixed with {style} {instrument}",
            "muffled {sound} behind a closed door",
        ),
    },
    "transcription": {
        "easy": ("someone saying '{quote}'", "{speaker} talking about {topic}", "{format} about {topic}"),
        "medium": (
            "{format} where {speaker} explains {topic}",
            "{speaker} mentions {topic}",
            "the part where {speaker} says '{quote}'",
            "lyrics '{lyric}'",
        ),
        "hard": (
            "where {speaker} complains about {topic} and then says '{quote}'",
            "does anyone mention {topic} in {format}",
            "{speaker} reading out a letter about {topic}",
            "I remember the words '{quote}' from {format}",
        ),
    },
    "metadata": {
        "easy": ("videos from {channel}", "{genre} videos", "uploaded {date}", "{person}", "{genre}"),
        "medium": (
            "{genre} videos uploaded {date}",
            "{camera} shot of {genre} footage",
            "clips with a {mood} mood",
            "videos featuring {person} {date}",
            "{genre} footage {licence}",
            "videos titled '{tag}' from {channel}",
        ),
        "hard": (
            "{genre} from {channel} tagged '{tag}' uploaded {date}",
            "{camera} footage, {mood} mood, {licence}",
            "everything {person} appeared in {date}",
            "{channel} uploads tagged '{tag}' {licence}",
        ),
    },
    "mixed": {
        "easy": ("{scene} with {sound}", "{person} saying '{quote}'", "{subject} {action} to {instrument} music"),
        "medium": (
            "{subject} {action} {place} while {speaker} talks about {topic}",
            "{genre} clip {date} with {style} {instrument} music",
            "{speaker} explaining {topic} with {sound} in the background",
            "{camera} shot of {subject} {action} with {sound}",
        ),
        "hard": (
            "{person} in {format} {date} saying '{quote}'",
            "{subject} {action} {place}, {style} {instrument} playing, and someone says '{quote}'",
            "{genre} from {channel} where {subject} is {action} and you hear {sound}",
            "{scene} while {speaker} talks about {topic} over {style} {instrument}",
        ),
    },
}

# One- or two-word queries; the hardest to route because the cue is a single token.
SHORT: dict[str, tuple[str, ...]] = {
    "visual": ("sunset", "waterfall", "skyline", "red car", "snow", "rainbow", "aurora", "volcano", "tulips"),
    "audio": ("applause", "thunder", "sirens", "bagpipes", "birdsong", "drumroll", "static", "crickets"),
    "transcription": ("interview", "lecture", "speech", "monologue", "eulogy", "toast", "sermon", "rant"),
    "metadata": ("anime", "documentaries", "vlogs", "2019", "trailers", "Pixar", "NASA", "BBC", "royalty-free"),
    "mixed": ("concert", "karaoke", "fireworks show", "press conference", "live stream", "stand-up", "parade"),
}

# Extra clauses for very long queries, pointing at the same modality as the base query.
ELABORATIONS: dict[str, tuple[str, ...]] = {
    "visual": ("you can see a {colour} {object} in the background", "it was filmed {time}", "the whole frame is kind of {colour}"),
    "audio": ("with {sound} somewhere in the background", "the {instrument} gets louder at the end", "no voices, just {sound}"),
    "transcription": ("later they mention {topic}", "someone says '{quote}' near the end", "it's mostly {speaker} talking"),
    "metadata": ("I think it was uploaded {date}", "probably from {channel}", "it was tagged '{tag}'"),
}

FOREIGN: dict[str, dict[str, tuple[str, ...]]] = {
    "es": {
        "visual": ("{subject} {action} {place}", "{scene}"),
        "audio": ("sonido de {sound}", "música de {instrument}"),
        "transcription": ("{speaker} hablando de {topic}", "alguien diciendo '{quote}'"),
        "metadata": ("vídeos de {genre} subidos en {year}", "vídeos del canal {channel}"),
        "mixed": ("{subject} {action} mientras suena {sound}", "{speaker} hablando de {topic} {place}"),
    },
    "fr": {
        "visual": ("{subject} {action} {place}", "{scene}"),
        "audio": ("bruit de {sound}", "musique de {instrument}"),
        "transcription": ("{speaker} qui parle de {topic}", "quelqu'un qui dit '{quote}'"),
        "metadata": ("vidéos de {genre} publiées en {year}", "vidéos de la chaîne {channel}"),
        "mixed": ("{subject} {action} avec un bruit de {sound}", "{speaker} qui parle de {topic} {place}"),
    },
    "de": {
        "visual": ("{subject} {action} {place}", "{scene}"),
        "audio": ("Geräusch von {sound}", "{instrument}musik"),
        "transcription": ("{speaker} spricht über {topic}", "jemand sagt '{quote}'"),
        "metadata": ("{genre} Videos aus dem Jahr {year}", "Videos vom Kanal {channel}"),
        "mixed": ("{subject} {action} mit {sound} im Hintergrund", "{speaker} spricht über {topic} {place}"),
    },
    "ja": {
        "visual": ("{place}で{action}{subject}", "{scene}"),
        "audio": ("{sound}の音", "{instrument}の演奏"),
        "transcription": ("{topic}について話す{speaker}", "「{quote}」と言っている場面"),
        "metadata": ("{year}年にアップロードされた{genre}", "{channel}の動画"),
        "mixed": ("{sound}が聞こえる中で{action}{subject}", "{place}で{topic}について話す{speaker}"),
    },
}

_YEARS = ("2015", "2018", "2019", "2020", "2021", "2022", "2023", "2024")
_CHANNELS = ("Kurzgesagt", "BBC", "NASA", "Arte", "TED")

FOREIGN_VOCAB: dict[str, dict[str, tuple[str, ...]]] = {
    "es": {
        "subject": ("un perro", "una niña", "un ciclista", "un anciano", "dos surfistas", "un gato negro"),
        "action": ("corriendo", "bailando", "saltando", "durmiendo", "comiendo", "nadando"),
        "place": ("en la playa", "en la nieve", "en un mercado", "en la cocina", "bajo la lluvia", "en el bosque"),
        "scene": ("atardecer sobre el mar", "niebla en las montañas", "fuegos artificiales en la ciudad", "un campo de girasoles"),
        "sound": ("lluvia", "truenos", "olas", "pájaros", "aplausos", "sirenas"),
        "instrument": ("guitarra", "piano", "violín", "trompeta", "tambores"),
        "speaker": ("un profesor", "una doctora", "el alcalde", "mi abuela", "un periodista"),
        "topic": ("la inflación", "el cambio climático", "su infancia", "la política", "la economía", "el fútbol"),
        "quote": ("te quiero", "lo logramos", "hasta mañana", "muchas gracias"),
        "genre": ("cocina", "viajes", "terror", "noticias", "deportes"),
        "year": _YEARS, "channel": _CHANNELS,
    },
    "fr": {
        "subject": ("un chien", "une petite fille", "un cycliste", "un vieil homme", "deux enfants", "un chat noir"),
        "action": ("qui court", "qui danse", "qui saute", "qui dort", "qui mange", "qui nage"),
        "place": ("sur la plage", "dans la neige", "au marché", "dans la cuisine", "sous la pluie", "dans la forêt"),
        "scene": ("coucher de soleil sur la mer", "brouillard sur les collines", "feux d'artifice sur Paris", "champ de lavande"),
        "sound": ("pluie", "tonnerre", "vagues", "mouettes", "applaudissements", "sirènes"),
        "instrument": ("guitare", "piano", "violon", "accordéon", "batterie"),
        "speaker": ("un professeur", "une médecin", "le maire", "ma grand-mère", "une journaliste"),
        "topic": ("l'inflation", "le climat", "son enfance", "les élections", "l'économie", "le football"),
        "quote": ("je ne regrette rien", "on a réussi", "à demain", "merci beaucoup"),
        "genre": ("cuisine", "voyage", "horreur", "actualités", "sport"),
        "year": _YEARS, "channel": _CHANNELS,
    },
    "de": {
        "subject": ("ein Hund", "ein kleines Mädchen", "ein Radfahrer", "ein alter Mann", "zwei Kinder", "eine schwarze Katze"),
        "action": ("rennt", "tanzt", "springt", "schläft", "isst", "schwimmt"),
        "place": ("am Strand", "im Schnee", "auf dem Markt", "in der Küche", "im Regen", "im Wald"),
        "scene": ("Sonnenuntergang am Meer", "Nebel über den Bergen", "Feuerwerk über der Stadt", "ein Rapsfeld"),
        "sound": ("Regen", "Donner", "Wellen", "Vogelgezwitscher", "Applaus", "Sirenen"),
        "instrument": ("Gitarren", "Klavier", "Geigen", "Trompeten", "Schlagzeug"),
        "speaker": ("ein Lehrer", "eine Ärztin", "der Bürgermeister", "meine Oma", "ein Journalist"),
        "topic": ("Inflation", "den Klimawandel", "ihre Kindheit", "die Wahl", "die Wirtschaft", "Fußball"),
        "quote": ("wir schaffen das", "bis morgen", "danke schön", "ich liebe dich"),
        "genre": ("Koch", "Reise", "Horror", "Nachrichten", "Sport"),
        "year": _YEARS, "channel": _CHANNELS,
    },
    "ja": {
        "subject": ("犬", "女の子", "自転車に乗る人", "おじいさん", "子供たち", "黒い猫"),
        "action": ("走っている", "踊っている", "跳んでいる", "眠っている", "食べている", "泳いでいる"),
        "place": ("浜辺", "雪の中", "市場", "台所", "雨の中", "森"),
        "scene": ("海に沈む夕日", "山にかかる霧", "夜空の花火", "満開の桜並木"),
        "sound": ("雨", "雷", "波", "鳥のさえずり", "拍手", "サイレン"),
        "instrument": ("ギター", "ピアノ", "バイオリン", "太鼓", "三味線"),
        "speaker": ("先生", "医者", "市長", "祖母", "記者"),
        "topic": ("物価", "気候変動", "子供の頃", "選挙", "経済", "野球"),
        "quote": ("ありがとう", "やった", "また明日", "いただきます"),
        "genre": ("アニメ", "料理動画", "旅行動画", "ニュース", "スポーツ"),
        "year": _YEARS, "channel": _CHANNELS,
    },
}
