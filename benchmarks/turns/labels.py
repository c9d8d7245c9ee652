"""Hand-made labels of the turn cuts: the incomplete points and why, the exceptions, who speaks.

Decided by reading the manifest transcripts and listening (``README.md`` beside this file
says how); data only. ``build_cuts.py`` checks every incomplete point against the manifest
text and ``FUNCTION_WORDS | PHRASE_WORDS`` before it places it.
"""

from __future__ import annotations

SKIP = {"neg_noise_only_dishes.wav": "no speech"}
"""Fixtures without any cut."""

DIGITAL_ROOM = {
    "cmd_one_two_three.wav": "noise-gated recording: between its words the file is digital silence",
}
"""Clips whose own silence is digital (elsewhere digital silence is an edit, never room tone)."""

NOT_A_TURN = {
    "read_lj_LJ001-0004.wav": (
        "the text is the middle of a longer sentence: it starts without a subject and ends on a "
        "comma (the sentence goes on in LJ001-0005), so its end is not a finished turn"
    ),
}
"""Fixtures whose end is not labelled ``complete`` (their incomplete cuts are kept)."""

INCOMPLETE: dict[str, list[tuple[str, str]]] = {
    "cmd_ten_of_clubs.wav": [("ten of", "preposition inside the fixed phrase 'ten of clubs'")],
    "q_ls_251-137823-0002_testing_routine.wav": [
        ("this isn't part of", "preposition"),
        ("this isn't part of your", "possessive"),
        ("this isn't part of your testing routine is", "auxiliary inside the tag question (is | it)"),
    ],
    "read_ls_1089-134686-0000.wav": [
        ("he hoped there would be", "auxiliary (would be ...)"),
        ("he hoped there would be stew for", "preposition"),
        ("he hoped there would be stew for dinner turnips and", "conjunction"),
        (
            "he hoped there would be stew for dinner turnips and carrots and bruised potatoes and fat "
            "mutton pieces to be ladled out in",
            "preposition",
        ),
        ("he hoped there would be stew for dinner turnips and carrots and", "conjunction"),
        (
            "he hoped there would be stew for dinner turnips and carrots and bruised potatoes and",
            "conjunction",
        ),
    ],
    "read_ls_1089-134691-0001.wav": [
        ("for a", "article"),
        ("for a full hour he had", "auxiliary"),
        ("for a full hour he had paced up and", "conjunction inside the fixed phrase 'up and down'"),
        ("for a full hour he had paced up and down waiting but he could", "auxiliary"),
        ("for a full hour he had paced up and down waiting but", "conjunction"),
        (
            "for a full hour he had paced up and down waiting but he",
            "subject pronoun without its verb (he | could)",
        ),
        (
            "for a full hour he had paced up and down waiting but he could wait no",
            "inside the fixed phrase 'no longer'",
        ),
    ],
    "read_ls_251-137823-0003.wav": [
        ("another engineer rushed toward", "preposition"),
        ("another engineer rushed toward the", "article"),
        ("another engineer rushed toward the door to", "infinitive marker"),
        ("another engineer rushed toward the door to see what was", "auxiliary"),
    ],
    "read_ls_3536-23268-0010.wav": [
        ("and he walked immediately out of", "preposition"),
        ("and he walked immediately out of the", "article"),
        ("and he walked immediately out of the apartment by", "preposition"),
        ("and he walked immediately out of the apartment by another", "determiner"),
    ],
    "read_ls_251-118436-0001.wav": [
        ("i tell you it is not poison she", "subject pronoun without its verb (she | cried)"),
        ("i tell", "verb without its object (tell | you)"),
    ],
    "read_librivox_ss_0870.wav": [
        ("and mister", "title inside the name 'mister john dashwood'"),
        ("and mister john dashwood had then leisure to", "infinitive marker"),
        (
            "and mister john dashwood had then leisure to consider how much there might be prudently in his",
            "possessive",
        ),
        (
            "and mister john dashwood had then leisure to consider how much there might be prudently in "
            "his power to do for",
            "preposition",
        ),
        (
            "and mister john dashwood had then leisure to consider how much there might be prudently in",
            "preposition",
        ),
        (
            "and mister john dashwood had then leisure to consider how much there might be prudently in "
            "his power to",
            "infinitive marker",
        ),
        ("and mister john", "first name inside the name 'mister john dashwood'"),
        ("and mister john dashwood had", "verb without its object (had | then leisure)"),
    ],
    "read_lj_LJ001-0004.wav": [
        ("produced the", "article"),
        ("produced the block books which", "relative pronoun opening a clause"),
        ("produced the block books which were the", "article"),
        ("produced the block books which were the immediate predecessors of", "preposition"),
        ("produced the block books which were the immediate predecessors of the", "article"),
    ],
    "read_arctic_aew_a0001.wav": [
        ("author of", "preposition"),
        ("author of the", "article"),
    ],
    "read_arctic_aew_a0002.wav": [
        ("not at", "preposition"),
        ("not at this particular", "adjective without its noun (particular | case)"),
    ],
    "read_arctic_axb_a0004.wav": [
        ("lord but", "conjunction"),
        ("lord but i'm", "subject + auxiliary (I'm | glad)"),
        ("lord but i'm glad to", "infinitive marker"),
    ],
    "spont_ami_ES2011a_intro.wav": [
        ("i'm", "subject + auxiliary (I'm | Abigail)"),
        ("i'm abigail claflin you can", "auxiliary"),
        ("i'm abigail claflin you can call me", "fixed phrase 'call me <name>'"),
        ("i'm abigail claflin you", "subject pronoun without its verb (You | can)"),
        ("i'm abigail claflin you can call", "verb without its object (call | me)"),
    ],
    "conv_katie_steve_diarization.wav": [
        ("good morning steve good morning katie have you tried the", "article"),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in "
            "microsoft speech service which can tell you who said what in real time not yet i've been "
            "using the",
            "article",
        ),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in "
            "microsoft speech service which",
            "relative pronoun opening a clause",
        ),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in "
            "microsoft speech service which can tell you who said what in real time not yet i've been "
            "using the batch transcription with diarization functionality but it produces diarization "
            "result until",
            "conjunction",
        ),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in",
            "preposition",
        ),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in "
            "microsoft speech service which can tell you who said what in real time not yet i've been "
            "using the batch transcription with",
            "preposition",
        ),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in "
            "microsoft speech service which can tell you who said what in real time not yet i've been "
            "using the batch transcription with diarization functionality but it produces diarization "
            "result until whole audio get processed is the",
            "article",
        ),
    ],
    "noisy_vctk_p232_113.wav": [("it's", "subject + auxiliary (It's | not)")],
    "noisy_vctk_p232_208.wav": [("now it's", "subject + auxiliary (it's | all)")],
    "pause_constructed_ss_0880_0890.wav": [
        ("he was not an", "article"),
        ("he was not an ill disposed young man unless", "conjunction (after the pause inside the turn)"),
        ("he was not an ill disposed young man unless to be rather cold hearted and", "conjunction"),
        (
            "he was not an ill disposed young man unless to be rather cold hearted and rather selfish is",
            "auxiliary (is to be ...)",
        ),
        ("he was not an ill disposed young man unless to", "infinitive marker"),
        (
            "he was not an ill disposed young man unless to be rather cold hearted and rather selfish is "
            "to be",
            "auxiliary",
        ),
        (
            "he was not an ill disposed young man unless to be rather cold hearted and rather",
            "degree adverb without its adjective (rather | selfish)",
        ),
        ("he was not an ill disposed young man unless to be rather", "degree adverb without its adjective"),
    ],
    "conv_constructed_4turn.wav": [
        ("this isn't part of your testing routine is it lord but", "conjunction (second turn)"),
        (
            "this isn't part of your testing routine is it lord but i'm glad to",
            "infinitive marker (second turn)",
        ),
        (
            "this isn't part of your testing routine is it lord but i'm glad to see you again phil i tell "
            "you it is not poison she",
            "subject pronoun without its verb (third turn)",
        ),
        (
            "this isn't part of your testing routine is it lord but i'm glad to see you again phil i tell",
            "verb without its object (third turn)",
        ),
    ],
    "noisy_mix_ls_1089-134686-0001_dishes_10db.wav": [
        ("stuff it into", "preposition"),
        ("stuff it into you his", "possessive"),
    ],
}
"""Hand-picked incomplete cuts, in order of preference: the manifest prefix (lower case, no
punctuation) and why it is unfinished. Per clip the first ``MAX_INCOMPLETE`` that pass the checks
are kept."""
MAX_INCOMPLETE = 4
"""Most incomplete cuts per clip, so that no clip dominates."""

FUNCTION_WORDS = {
    "a", "an", "the", "this", "another",  # articles, determiners
    "of", "for", "in", "to", "toward", "by", "at", "into", "with",  # prepositions, infinitive "to"
    "and", "but", "unless", "until", "which",  # conjunctions, relative pronoun
    "your", "his", "my",  # possessives
    "be", "had", "could", "was", "were", "is", "can", "i'm", "it's",  # auxiliaries
}  # fmt: skip
"""Words an incomplete prefix may end on; anything else needs a fixed-phrase reason."""
PHRASE_WORDS = {"mister", "john", "me", "she", "he", "you", "call", "tell", "no", "rather", "particular"}
"""Last words allowed by the fixed-phrase / bare-constituent reasons above."""

TURNS: dict[str, list[str]] = {
    "conv_katie_steve_diarization.wav": [
        "Katie (female)",
        "Steve (male)",
        "Katie (female)",
        "Steve (male)",
        "Steve (male)",
        "Steve (male)",
        "Katie (female)",
        "Steve (male)",
        "Steve (male)",
    ],
    "conv_constructed_4turn.wav": [
        "librispeech:251",
        "cmu_arctic:axb (Indian-English female)",
        "librispeech:251",
        "cmu_arctic:axb (Indian-English female)",
    ],
}
"""Speaker of each manifest sentence of the conversations (from the manifest notes)."""
WORD_SPEAKERS: dict[str, list[str]] = {
    "cmd_right_left_up.wav": [
        "speechcommands:0d82fd99",
        "speechcommands:0d82fd99",
        "speechcommands:0a2b400e",
    ],
}
"""Speaker of each word where one clip joins several speakers without sentences."""
