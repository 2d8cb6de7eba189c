"""Compositional vocabularies for the query synthesizer (:mod:`.synth`).

Each list feeds one slot of the templates; the cross product of a few dozen entries per slot is what
lets the synthesizer produce tens of thousands of distinct, natural-looking queries without a model.
"""

from __future__ import annotations

# Hand-laid tables: a line per theme reads better than the formatter's line per word.
# fmt: off

SUBJECTS = (
    "a golden retriever", "a little girl", "an old man", "a cyclist", "two teenagers", "a chef",
    "a black cat", "a soldier", "a surfer", "a street dancer", "a horse", "a firefighter", "a nurse",
    "a couple", "a toddler", "a skateboarder", "a fisherman", "a ballerina", "a runner", "a farmer",
    "a robot", "a delivery driver", "a woman in a red coat", "a man with a beard", "a group of hikers",
    "a deer", "a pilot", "a street musician", "a kid on a scooter", "a climber",
)
ACTIONS = (
    "running", "jumping into a lake", "crossing the street", "climbing a ladder", "eating noodles",
    "riding a bike", "dancing", "falling over", "waving at the camera", "carrying boxes",
    "painting a wall", "hugging", "walking a dog", "reading a map", "juggling", "fixing a car",
    "planting a tree", "catching a ball", "opening a gift", "sleeping", "taking a selfie",
    "pushing a stroller", "throwing snowballs", "chopping wood", "doing a backflip", "feeding pigeons",
    "swimming", "sliding down a hill", "looking out of a window", "lighting a candle",
)
PLACES = (
    "on a beach", "in a snowy forest", "on a rooftop", "in a busy market", "under a bridge",
    "in a kitchen", "in the desert", "on a frozen lake", "in a library", "at a train station",
    "in a parking garage", "on a mountain trail", "in a neon-lit alley", "in a hospital corridor",
    "in a sunflower field", "on a sailboat", "in a warehouse", "at a gas station", "in a classroom",
    "in a subway car", "on a farm", "in a rainforest", "on a city bridge at night", "in a stadium",
    "in a laundromat", "at the airport", "in a greenhouse", "on an empty highway", "in a cave",
    "by a waterfall",
)
COLOURS = ("red", "blue", "yellow", "green", "purple", "orange", "white", "black", "pink", "silver")
OBJECTS = (
    "umbrella", "balloon", "vintage car", "kite", "bicycle", "sailboat", "hot air balloon", "lantern",
    "guitar", "tractor", "helicopter", "motorcycle", "teapot", "backpack", "tent", "bus",
)
SCENES = (
    "sunset over the mountains", "northern lights over a lake", "fog rolling over hills",
    "city skyline at dusk", "waves breaking on rocks", "autumn leaves falling", "lightning over the sea",
    "a field of tulips", "a crowded night market", "an empty stadium", "a volcano erupting",
    "cherry blossoms in a park", "a snowstorm in the city", "a rainbow after the rain",
    "a foggy harbour at dawn", "a burning building", "a flooded village", "stars over the desert",
)
TIMES = ("at sunrise", "at night", "at dusk", "in the rain", "in slow motion", "in winter", "at noon")
SIGNS = ("OPEN", "EXIT", "SALE 50% OFF", "NO PARKING", "WELCOME HOME", "CLOSED", "HAPPY BIRTHDAY")

SOUNDS = (
    "a dog barking", "heavy rain", "thunder", "a baby crying", "glass breaking", "a car horn",
    "birds chirping", "waves crashing", "a door slamming", "footsteps", "a crowd cheering",
    "church bells", "a siren", "wind howling", "a train whistle", "crickets", "a phone ringing",
    "an explosion", "people laughing", "applause", "a kettle whistling", "a fire crackling",
    "typing on a keyboard", "a helicopter overhead", "a cat meowing", "a motorbike revving",
    "dripping water", "a crowd booing", "a gunshot", "a record scratch",
)
INSTRUMENTS = (
    "piano", "violin", "acoustic guitar", "electric guitar", "saxophone", "drums", "cello", "trumpet",
    "harp", "flute", "banjo", "accordion", "synthesizer", "bagpipes", "ukulele", "sitar", "organ",
    "double bass", "harmonica", "marimba",
)
MUSIC_STYLES = (
    "soft", "upbeat", "dramatic", "slow", "distorted", "cheerful", "melancholic", "fast", "eerie",
    "relaxing", "jazzy", "loud",
)
MUSIC_VERBS = ("playing", "solo", "melody", "riff", "playing in the background", "duet", "intro")

SPEAKERS = (
    "a teacher", "the CEO", "a doctor", "a politician", "a coach", "my grandmother", "a scientist",
    "the narrator", "a news anchor", "a comedian", "a student", "the mayor", "a nurse", "an astronaut",
    "a chef", "a lawyer", "a priest", "a farmer", "the host", "a YouTuber",
)
TOPICS = (
    "climate change", "the stock market", "growing up in poverty", "the history of Rome",
    "how vaccines work", "quantum computing", "their first job", "mental health", "the election",
    "saving money", "black holes", "the budget deficit", "learning a new language", "remote work",
    "the housing crisis", "artificial intelligence", "raising kids", "the war", "nutrition",
    "cryptocurrency", "their divorce", "the championship", "the new tax law", "immigration",
)
FORMATS = ("a lecture", "an interview", "a podcast", "a speech", "a debate", "a panel", "a sermon", "a vlog")
QUOTES = (
    "I'll be back", "we did it", "to be or not to be", "I have a dream", "houston we have a problem",
    "just do it", "never give up", "see you tomorrow", "is this thing on", "thank you so much",
    "let's get started", "I love you", "what a save", "that's what she said", "follow me",
    "welcome back to the channel", "don't forget to subscribe", "it's alive", "one more thing",
    "we will rebuild",
)
LYRICS = (
    "hello darkness my old friend", "we will we will rock you", "let it be", "don't stop believing",
    "here comes the sun", "all you need is love", "I will always love you", "shake it off",
)

PEOPLE = (
    "Taylor Swift", "Barack Obama", "Serena Williams", "Gordon Ramsay", "Elon Musk", "Beyoncé",
    "Lionel Messi", "Oprah Winfrey", "David Attenborough", "Greta Thunberg", "Keanu Reeves",
    "Angela Merkel", "Shohei Ohtani", "Billie Eilish", "Neil deGrasse Tyson", "Emma Watson",
)
CHANNELS = (
    "Kurzgesagt", "National Geographic", "BBC News", "MrBeast", "NASA", "Vox", "TED", "Veritasium",
    "Tasty", "ESPN", "the marketing team", "Arte", "Al Jazeera", "Marques Brownlee",
)
GENRES = (
    "documentary", "horror", "comedy", "anime", "news", "cooking", "travel", "sports", "true crime",
    "music video", "tutorial", "reality TV", "nature", "sci-fi", "vlog", "gaming",
)
DATES = (
    "in March 2023", "last week", "yesterday", "in 2019", "on 2024-07-15", "in summer 2021",
    "before 2010", "this morning", "in December 2022", "between 2015 and 2018", "last Christmas",
    "in the 1990s", "on New Year's Eve 2020", "in Q3 2024",
)
CAMERA = (
    "low angle", "overhead", "drone", "close-up", "wide", "tracking", "handheld", "POV",
    "eye-level", "dolly zoom", "over-the-shoulder", "time-lapse",
)
MOODS = ("melancholic", "happy", "tense", "calm", "romantic", "nostalgic", "uplifting", "dark", "playful")
LICENCES = (
    "licensed for commercial use", "with an open Creative Commons license", "cleared for broadcast",
    "with rights expiring in 2025", "royalty-free", "licensed until December 2026",
    "restricted to internal use",
)
TAGS = ("wedding", "keynote", "launch", "behind the scenes", "highlights", "tutorial", "review", "unboxing")
