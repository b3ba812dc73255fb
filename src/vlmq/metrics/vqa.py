"""VQAv2 soft accuracy, reproducing the official scorer bit for bit.

Two modes (``/work/shared/reference/scoring.md`` §1):

- ``"official"``: GT-Vision-Lab/VQA ``vqaEval.py`` @ a013f00. Answers and prediction are cleaned
  (``\\n``/``\\t`` → space, strip). Only when the human answers are *not* unanimous are both
  normalised (``processPunctuation`` then ``processDigitArticle``); with unanimous answers the
  prediction must equal that string exactly ("Yes" scores 0 against ten "yes").
- ``"lmms_eval"``: lmms-eval >= 0.4.1 ``tasks/vqav2/utils.py``. No unanimity gate: always normalise.
  Its ``EvalAIAnswerProcessor`` also treats repeated commas between digits ("1,,2") as a
  digit-comma-digit, so punctuation is deleted rather than replaced by a space.

Accuracy is the leave-one-out mean over the human answers of ``min(1, matches_among_others / 3)``:
0, 0.3, 0.6, 0.9, 1.0 for 0, 1, 2, 3, >= 4 matching humans.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from vlmq.errors import VlmqError
from vlmq.metrics._common import check_scoring_mode

# The 120-entry table of missing-apostrophe forms, identical in vqaEval.py @ a013f00 and in
# lmms-eval's EvalAIAnswerProcessor. Keys with capitals ("Im", "Ive", "Id've", "I'dve") can never
# match because words are lower-cased first; they are kept because the official table has them.
CONTRACTIONS = {
    "aint": "ain't",
    "arent": "aren't",
    "cant": "can't",
    "couldve": "could've",
    "couldnt": "couldn't",
    "couldn'tve": "couldn't've",
    "couldnt've": "couldn't've",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "dont": "don't",
    "hadnt": "hadn't",
    "hadnt've": "hadn't've",
    "hadn'tve": "hadn't've",
    "hasnt": "hasn't",
    "havent": "haven't",
    "hed": "he'd",
    "hed've": "he'd've",
    "he'dve": "he'd've",
    "hes": "he's",
    "howd": "how'd",
    "howll": "how'll",
    "hows": "how's",
    "Id've": "I'd've",
    "I'dve": "I'd've",
    "Im": "I'm",
    "Ive": "I've",
    "isnt": "isn't",
    "itd": "it'd",
    "itd've": "it'd've",
    "it'dve": "it'd've",
    "itll": "it'll",
    "let's": "let's",
    "maam": "ma'am",
    "mightnt": "mightn't",
    "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've",
    "mightve": "might've",
    "mustnt": "mustn't",
    "mustve": "must've",
    "neednt": "needn't",
    "notve": "not've",
    "oclock": "o'clock",
    "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at",
    "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at",
    "shant": "shan't",
    "shed've": "she'd've",
    "she'dve": "she'd've",
    "she's": "she's",
    "shouldve": "should've",
    "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll",
    "somebodys": "somebody's",
    "someoned": "someone'd",
    "someoned've": "someone'd've",
    "someone'dve": "someone'd've",
    "someonell": "someone'll",
    "someones": "someone's",
    "somethingd": "something'd",
    "somethingd've": "something'd've",
    "something'dve": "something'd've",
    "somethingll": "something'll",
    "thats": "that's",
    "thered": "there'd",
    "thered've": "there'd've",
    "there'dve": "there'd've",
    "therere": "there're",
    "theres": "there's",
    "theyd": "they'd",
    "theyd've": "they'd've",
    "they'dve": "they'd've",
    "theyll": "they'll",
    "theyre": "they're",
    "theyve": "they've",
    "twas": "'twas",
    "wasnt": "wasn't",
    "wed've": "we'd've",
    "we'dve": "we'd've",
    "weve": "we've",
    "werent": "weren't",
    "whatll": "what'll",
    "whatre": "what're",
    "whats": "what's",
    "whatve": "what've",
    "whens": "when's",
    "whered": "where'd",
    "wheres": "where's",
    "whereve": "where've",
    "whod": "who'd",
    "whod've": "who'd've",
    "who'dve": "who'd've",
    "wholl": "who'll",
    "whos": "who's",
    "whove": "who've",
    "whyll": "why'll",
    "whyre": "why're",
    "whys": "why's",
    "wont": "won't",
    "wouldve": "would've",
    "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've",
    "yall": "y'all",
    "yall'll": "y'all'll",
    "y'allll": "y'all'll",
    "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've",
    "youd": "you'd",
    "youd've": "you'd've",
    "you'dve": "you'd've",
    "youll": "you'll",
    "youre": "you're",
    "youve": "you've",
}

# "none" maps to "0" too; words above ten are not mapped.
NUMBER_MAP = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = ("a", "an", "the")

# The 21 characters processPunctuation deletes or replaces; ' : * # $ % & | ~ ^ are not among them.
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!")

# The official "look-behind" `(?!<=\d)` is really an always-true look-ahead: the rule is
# "a period not followed by a digit".
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
# The official code passes re.UNICODE (== 32) in sub()'s *count* position: at most 32 periods go.
PERIOD_STRIP_COUNT = int(re.UNICODE)

# Only used as a condition ("does the text contain a digit-comma-digit anywhere?"), never to substitute.
DIGIT_COMMA_DIGIT = {
    "official": re.compile(r"(\d)(\,)(\d)"),
    "lmms_eval": re.compile(r"(?<=\d)(\,)+(?=\d)"),  # EvalAIAnswerProcessor: repeated commas match too
}


def clean(text: str) -> str:
    """The first step for prediction and answers: tabs and newlines become spaces, then strip."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def process_punctuation(text: str, mode: str = "official") -> str:
    """``processPunctuation``: delete each punctuation character if it touches a space anywhere in
    the original text or the text has a digit-comma-digit; otherwise replace it with a space. Then
    drop up to 32 periods not followed by a digit."""
    has_digit_comma = DIGIT_COMMA_DIGIT[check_scoring_mode(mode)].search(text) is not None
    out = text
    for p in PUNCTUATION:
        if (p + " " in text or " " + p in text) or has_digit_comma:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return PERIOD_STRIP.sub("", out, count=PERIOD_STRIP_COUNT)


def process_digit_article(text: str) -> str:
    """``processDigitArticle``: lower-case, split on whitespace, map number words, drop articles,
    expand contractions, join with single spaces."""
    words = [NUMBER_MAP.get(word, word) for word in text.lower().split()]
    words = [word for word in words if word not in ARTICLES]
    return " ".join(CONTRACTIONS.get(word, word) for word in words)


def normalize_answer(text: str, mode: str = "official") -> str:
    """The fully normalised form of one answer (clean, punctuation, digits/articles), for display.

    Note that in ``"official"`` mode scoring applies this only when the human answers disagree.
    """
    return process_digit_article(process_punctuation(clean(_require_str(text, "answer")), mode))


def vqa_accuracy(prediction: str, answers: Sequence[str | Mapping], mode: str = "official") -> float:
    """VQA soft accuracy in [0, 1] of ``prediction`` against the human ``answers``.

    ``answers`` are plain strings or dicts with an ``"answer"`` key (lmms-lab/VQAv2 rows hold
    ``{answer, answer_confidence, answer_id}``). As in the official code, leaving answer *i* out
    removes every answer dict equal to it; real data has a unique ``answer_id`` per dict, so this is
    leave-one-out. Plain strings are left out by position (as if each had its own ``answer_id``).
    """
    check_scoring_mode(mode)
    prediction = clean(_require_str(prediction, "prediction"))
    answers = _as_answer_list(answers)
    human = [clean(text) for text in _answer_texts(answers)]
    # The unanimity gate (official only): compare the *cleaned* answers as given.
    if mode == "lmms_eval" or len(set(human)) > 1:
        human = [process_digit_article(process_punctuation(text, mode)) for text in human]
        prediction = process_digit_article(process_punctuation(prediction, mode))
    identities = _answer_identities(answers, human)
    per_left_out = []
    for left_out in identities:
        matches = sum(1 for ident, text in zip(identities, human) if ident != left_out and text == prediction)
        per_left_out.append(min(1, float(matches) / 3))
    return float(sum(per_left_out)) / len(per_left_out)


def _as_answer_list(answers) -> list:
    is_list_like = isinstance(answers, Iterable) and not isinstance(answers, (str, Mapping))
    answers = list(answers) if is_list_like else []
    if not answers:
        raise VlmqError(
            "VQA answers must be a non-empty list of strings or of dicts with an 'answer' key; "
            "pass the row's 'answers' column"
        )
    return answers


def _answer_texts(answers: list) -> list[str]:
    texts = []
    for answer in answers:
        if isinstance(answer, Mapping):
            if "answer" not in answer:
                raise VlmqError(
                    f"VQA answer dict without an 'answer' key: {dict(answer)!r}; "
                    "pass dicts like {'answer': 'yes', 'answer_id': 1}"
                )
            answer = answer["answer"]
        texts.append(_require_str(answer, "answer"))
    return texts


def _answer_identities(answers, normalised: list[str]) -> list:
    """What leave-one-out compares: the whole answer dict (with its answer normalised, as the
    official code mutates it in place) for dicts, the position for plain strings."""
    return [
        {**answer, "answer": text} if isinstance(answer, Mapping) else index
        for index, (answer, text) in enumerate(zip(answers, normalised))
    ]


def _require_str(value, what: str) -> str:
    if not isinstance(value, str):
        raise VlmqError(
            f"VQA {what} must be a string, got {type(value).__name__}: {value!r}; decode the model output to text first"
        )
    return value
