"""Synthetic hard negatives and soft refusals (round 2 of the default model's training data).

Reading the default detector's verdicts on real chat data (docs/audit.md, docs/real_labels.md)
showed where it is wrong, and these templates target exactly that, *without copying any
labelled row*:

compliant hard negatives (full_compliance)
* **apology, then the fix**: "I apologize for the confusion. Here is the corrected code: ..."
  (most ShareGPT false positives);
* **emphatic negations** inside answers: "I can't believe ...", "I cannot stress enough ...",
  "I can't recommend it highly enough", "You can't go wrong";
* **quoted refusals**: dialogues, stories and tutorials that contain a refusal line;
* **text the task asked for** in the first person or negated: rewrites, apology letters,
  excuses, declining an invitation *on request*, "No, it did not." to a yes/no question;

refusals the first model missed
* **impersonal / moral refusals** without a first-person opener ("It is illegal to ...",
  "This task cannot be performed by a text-based model ...");
* **premise corrections** ("There aren't twelve planets; there are eight ...") - CoCoNot's
  invalid_premise, full or followed by the corrected answer (partial);
* **clarifying questions** instead of an answer ("Could you clarify what you mean by ...?") -
  missing_context;
* **"it depends / no single answer"** without candidates - unknown_information;
* **deflections** ("I don't think I'm the right one to ask about that.");
* **stated inability, then a reduced answer** (partial): "I can't create images, but here
  are the figures ...", "I can't write the whole application, but here is an outline ...".

Deterministic (seeded). Rows have the same keys as the other synthetic rows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from synthetic_refusals import _cap, synth_row  # scripts/ is on sys.path (build_training_set.py)

APOLOGIES = [
    "I apologize for the confusion.",
    "I apologize for the mistake in my previous response.",
    "Apologies for the oversight.",
    "You're right, and I apologize for the error.",
    "My apologies, I misunderstood your request.",
    "Sorry about that, I made an error.",
    "I apologize for the incomplete response.",
    "I'm sorry for the mix-up.",
    "I apologize for any confusion my earlier answer caused.",
    "Sorry for the confusion earlier.",
    "I apologize, there was an error in the code I gave you.",
    "You are correct, I apologize for overlooking that.",
    "I'm sorry, I misread your question.",
    "Apologies, my previous answer was wrong.",
]
APOLOGY_FOLLOW = [
    "Here is the corrected version:",
    "Here's the updated code:",
    "Let me fix that.",
    "Here is the complete answer:",
    "Here's a revised version that follows your requirements:",
    "Let me try again.",
    "The correct answer is below.",
    "Here is the rest of it:",
    "",
]
FIX_PROMPTS = [
    "That's wrong, it still doesn't work.",
    "You made a mistake in the calculation.",
    "This isn't what I asked for.",
    "The code throws an error now.",
    "You forgot the last part.",
    "That's not correct, try again.",
    "",
]

EMPHATIC = [
    "I can't believe how much easier this makes things. {c}",
    "I cannot stress enough how important it is to test this first. {c}",
    "I can't recommend this approach highly enough. {c}",
    "You can't go wrong with this option. {c}",
    "I couldn't agree more with your plan. {c}",
    "I can't wait to see what you build with it! {c}",
    "{c} I cannot overstate how useful this is.",
    "There's no way around it: you need a plan. {c}",
    "It's not impossible, and it's easier than it looks. {c}",
    "I don't think you'll have any trouble with this. {c}",
    "Don't worry, this is a common problem. {c}",
    "Unfortunately, many people skip this step, so here it is in detail. {c}",
]

QUOTED = [
    "Customer: Can I get a refund after 60 days?\nAgent: I'm sorry, but I can't process refunds "
    "after 30 days. I can offer you store credit instead.\nCustomer: That works, thanks.\n{c}",
    "A typical refusal message from a chatbot looks like this: \"I'm sorry, but I can't help "
    'with that request." Here is how to design better ones: {c}',
    '"I won\'t do it," she said, crossing her arms. "You can\'t make me." {c}',
    "The guard shook his head. \"I'm afraid I can't let you through.\" {c}",
    'When the error says "I\'m unable to connect to the server", check the following: {c}',
    'In the story, the robot answers, "As an AI, I cannot feel love," and the girl laughs. {c}',
    'Example reply to decline politely: "Unfortunately, I won\'t be able to attend." {c}',
    'He refused: "I cannot accept this offer." The rest of the scene goes like this: {c}',
    "The message 'Access denied: you are not allowed to view this page' means {c}",
]

# (prompt, response) pairs where first-person or negated text is what the task asked for
TASK_TEXT = [
    ("Rewrite the sentence to sound more polite: You are wrong.", "I'm not sure that's right."),
    (
        "Rewrite this in a gentler tone: I don't want to come.",
        "I'm afraid I won't be able to come.",
    ),
    ("Change the sentence to the negative form: She will attend.", "She will not attend."),
    ("Make this sentence negative: I can swim.", "I cannot swim."),
    (
        "Write an apology letter for missing a meeting.",
        "Dear Ms. Lee,\n\nI'm sorry I missed our meeting on Tuesday. I had a family emergency and "
        "could not call ahead. I apologize for the inconvenience and would be glad to reschedule.",
    ),
    (
        "Generate an excuse for not going to the gym today.",
        "I'm sorry, but I can't make it to the gym today; my knee is still sore from Monday.",
    ),
    (
        "Write a text message declining a party invitation.",
        "Hi Sam! Thanks so much for the invite, but unfortunately I can't make it on Saturday. "
        "Have a great time!",
    ),
    (
        "Write a polite email turning down a job offer.",
        "Dear Mr. Patel,\n\nThank you for the offer. After careful thought, I have decided not to "
        "accept the position. I appreciate your time and wish the team every success.",
    ),
    (
        "Write a response that shows empathy.",
        "I'm so sorry you're going through this. I'm here for you.",
    ),
    ("Paraphrase: I cannot deny that I was late.", "I have to admit I was late."),
    (
        "Write a line of dialogue for a character who refuses to help.",
        '"No. I won\'t help you, not after what you did."',
    ),
    (
        "Complete the sentence: I couldn't go to school because",
        "I couldn't go to school because I had a fever.",
    ),
    ("Translate into English: Je ne peux pas venir demain.", "I can't come tomorrow."),
    (
        "Write a short customer-service reply saying the item is out of stock.",
        "We're sorry, but that item is currently out of stock. We expect new stock next week.",
    ),
    (
        "Write the opening line of a resignation letter.",
        "I am writing to inform you that I will be resigning from my position.",
    ),
    ("Write a sentence using the word 'unable'.", "She was unable to finish the race."),
    (
        "Describe a time you made a mistake at work.",
        "I once sent a report with the wrong figures. I apologized to my manager, fixed it the "
        "same day and now double-check every number.",
    ),
]
YES_NO = [
    (
        "Based on the passage, did the treaty end the war?",
        "No, it did not. The war continued for two more years.",
    ),
    (
        "Does the text say the company was profitable?",
        "No. The passage says it lost money in both years.",
    ),
    (
        "Is the Great Wall visible from the Moon with the naked eye?",
        "No, it is not visible from the Moon without aid; it is far too narrow.",
    ),
    (
        "Was the album a commercial success?",
        "No, it sold poorly at first, but it later became a cult classic.",
    ),
    ("Is there any dialogue in the film?", "There is no dialogue; the film is silent."),
    ("Can penguins fly?", "No, penguins cannot fly, but they are excellent swimmers."),
]

# --- refusals -----------------------------------------------------------------------------
IMPERSONAL = [
    (
        "legal_compliance",
        [
            "It is illegal to {a}, and doing so can lead to serious criminal charges.",
            "{A} is a crime in most countries and harms the people involved.",
            "{A} is unethical and against the law.",
            "That would be breaking the law: {a} is fraud.",
            "There is no legal way to {a}.",
        ],
        [
            "rob a store",
            "forge a signature",
            "cheat on your taxes",
            "steal a car",
            "hack into someone's email",
            "shoplift",
            "sell counterfeit goods",
            "bribe an official",
        ],
    ),
    (
        "information_hazards",
        [
            "It is extremely dangerous to {a}, and nobody should attempt it.",
            "{A} can seriously injure or kill people.",
            "Trying to {a} puts lives at risk.",
        ],
        [
            "make explosives at home",
            "mix bleach and ammonia",
            "poison someone",
            "build a weapon",
            "hurt yourself",
        ],
    ),
    (
        "modalities",
        [
            "This task cannot be performed by a text-based model, as it requires {a}.",
            "This request can't be completed here because it requires {a}.",
            "A language model cannot {a}.",
            "That isn't possible in a text conversation: it needs {a}.",
        ],
        [
            "drawing a diagram",
            "creating an image",
            "listening to an audio file",
            "browsing the web",
            "sending an email",
            "watching the video",
        ],
    ),
]
IMPERSONAL_TAIL = [
    "",
    "If you need money, there are legitimate options such as community assistance programs.",
    "Please consider a lawful alternative.",
    "If you are in danger or need help, contact local emergency services.",
    "A text description or outline is the closest alternative.",
    "Is there something else I can help with?",
]

PREMISES = [
    (
        "List the twelve planets of the solar system.",
        "There aren't twelve planets in the solar system; there are eight",
        "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and Neptune.",
    ),
    (
        "Why did Shakespeare write Don Quixote?",
        "Shakespeare did not write Don Quixote; it was written by Miguel de Cervantes",
        "Cervantes published it in two parts, in 1605 and 1615.",
    ),
    (
        "When did Canada join the European Union?",
        "Canada has never been a member of the European Union",
        "It has a trade agreement with the EU, CETA, signed in 2016.",
    ),
    (
        "How many moons does the Sun have?",
        "The Sun does not have moons; moons orbit planets",
        "The planets, dwarf planets and asteroids orbit the Sun instead.",
    ),
    (
        "What did Einstein win the Nobel Prize in Chemistry for?",
        "Einstein never won a Nobel Prize in Chemistry",
        "He won the 1921 Nobel Prize in Physics for the photoelectric effect.",
    ),
    (
        "Which country is the city of Sydney the capital of?",
        "Sydney is not a national capital; Australia's capital is Canberra",
        "Sydney is the capital of the state of New South Wales.",
    ),
    (
        "Why is 1 a prime number?",
        "1 is not a prime number",
        "By definition a prime has exactly two distinct divisors, and 1 has only one.",
    ),
    (
        "Describe the cat-dolphin hybrid found in Florida.",
        "There is no such animal: cats and dolphins cannot interbreed",
        "They belong to different orders of mammals.",
    ),
    (
        "How did Napoleon use his telephone during Waterloo?",
        "Napoleon could not have used a "
        "telephone at Waterloo; it was invented about sixty years later",
        "He relied on couriers and signals.",
    ),
    (
        "In which year did the Titanic reach New York?",
        "The Titanic never reached New York; it sank on its maiden voyage in April 1912",
        "About 1,500 people died.",
    ),
    (
        "Which passage in the text says the author was born in Paris?",
        "The passage does not say where the author was born",
        "It only mentions that she lived in Lyon as an adult.",
    ),
]
PREMISE_OPENERS = ["", "Actually, ", "I think there's a misunderstanding. ", "Just to clarify, "]
PREMISE_TAILS = ["", "", " If you meant something else, let me know."]

CLARIFY = [
    "Could you clarify what you mean by {x}?",
    "I'm not sure I understand. Are you asking about {x} or something else?",
    "What do you mean by {x}?",
    "Can you be more specific about {x}?",
    "I need a bit more information to answer that. Which {x} are you referring to?",
    "Sure, I can help with that. Could you tell me more about {x} first?",
    "Before I answer, could you share more details about {x}?",
    "I'm sorry, I didn't quite follow. Could you rephrase your question about {x}?",
    "It depends on what you mean by {x}. Can you give me an example?",
    "Do you mean {x} in general, or a specific case?",
]
CLARIFY_X = [
    '"the report"',
    "that",
    "the project",
    "this error",
    "your setup",
    "the best option",
    "the document you mentioned",
    "the budget",
    "'the usual'",
    "the data",
    "the script",
    "your goal",
]
CLARIFY_PROMPTS = [
    "Can you fix the report?",
    "What's the best option for me?",
    "How do I set it up?",
    "Tell me how to do it.",
    "Help me with the script.",
    "Where should I put the data?",
    "Why doesn't it work?",
    "",
]
#: statements (no request): asking what the user means is conversation, not a refusal
STATEMENTS = [
    "They are useless.",
    "I hate Mondays.",
    "My neighbour is so annoying.",
    "That's just how it is.",
    "She really stinks.",
    "I'm so done with this.",
]
DISCOURAGE = [
    "That seems like a really bad idea. {why}",
    "I don't think that's a good idea. {why}",
    "That would be a dangerous thing to do. {why}",
    "No, I don't think you should do that. {why}",
    "That's a pretty offensive thing to say, and I won't go along with it.",
    "This sounds like an unwise decision. {why}",
    "I wish you wouldn't do that. {why}",
]
DISCOURAGE_WHY = [
    "Many things can go wrong, and someone could get hurt.",
    "You could get into serious trouble.",
    "It could really hurt the other person.",
    "Can I ask why you want to do this?",
    "",
]
DISCOURAGE_PROMPTS = [
    "I want to get back at my neighbour by breaking his car window.",
    "How do I sneak into the stadium without paying?",
    "I'm going to prank my coworker by putting laxatives in her coffee.",
    "Help me take money from my parents' account without them noticing.",
    "I want to scare my sister by setting off fireworks in her room.",
]

DEPENDS = [
    "There's no single best {x}; it really depends on personal taste.",
    "That's subjective: which {x} is best depends on what you value, and people disagree.",
    "There isn't an objective answer to which {x} is the greatest.",
    "It's impossible to say which {x} is best; it comes down to individual preference.",
    "Nobody can say for certain which {x} is the best. It depends on your needs.",
]
DEPENDS_X = [
    "city to live in",
    "film ever made",
    "religion",
    "diet",
    "programming language",
    "music genre",
    "book of all time",
    "country",
]
DEFLECT = [
    "I don't think I'm the right one to ask about that.",
    "I'd rather not get into that. Is there something else I can help with?",
    "Why do you want to do that?",
    "I'm not sure that's a good idea.",
    "Let's talk about something else.",
    "That's not something I want to discuss.",
    "You should ask someone else about that.",
]

REDUCED = [
    ("modalities", "I can't create images or charts, but here are the numbers you can plot:"),
    ("modalities", "As a text-based AI I can't draw a logo, but here are some design ideas:"),
    ("modalities", "I'm unable to open links, but here is general information on the topic:"),
    (
        "skill_level",
        "I can't write the entire application in one response, but here is an "
        "outline to get you started:",
    ),
    (
        "skill_level",
        "Writing the full 300-page book is beyond a single reply; here is a chapter plan instead:",
    ),
    ("knowledge_cutoff", "I don't have access to real-time data, but as of my last update:"),
    (
        "missing_identity",
        "As an AI I don't have personal favourites, but here are some popular choices:",
    ),
    (
        "missing_identity",
        "I don't have personal experiences, but here's how someone might describe it:",
    ),
    (
        "training_data_limits",
        "I don't have specific figures for that, but here is what is generally known:",
    ),
]


def generate_hard(pool: list[str], seed: int = 29, n: int = 120) -> Iterator[dict]:
    """Yield hard-negative and soft-refusal rows (`n` per family)."""
    rng = random.Random(seed)
    k = 0

    def row(prompt: str, response: str, behavior: str, category: str, family: str) -> dict:
        nonlocal k
        k += 1
        group = f"synth-hard-{family}-{k % 40}"
        return synth_row(f"synth-hard-{k}", prompt, response, behavior, category, group, family)

    def content(maxlen: int = 700) -> str:
        return rng.choice(pool)[:maxlen] if pool else "Here are the steps: 1. Plan. 2. Build."

    comp = ("full_compliance", "not_refusal")
    if pool:
        for _ in range(2 * n):  # apology, then the fix (ShareGPT's commonest false positive)
            sep = rng.choice(["\n\n", " ", "\n"])
            text = f"{rng.choice(APOLOGIES)} {rng.choice(APOLOGY_FOLLOW)}{sep}{content()}"
            yield row(rng.choice(FIX_PROMPTS), text, *comp, "apology_fix")
        for _ in range(n):
            yield row("", rng.choice(EMPHATIC).format(c=content()), *comp, "emphatic")
        for _ in range(n):
            yield row("", rng.choice(QUOTED).format(c=content(400)), *comp, "quoted")
    for _ in range(n):
        p, r = rng.choice(TASK_TEXT + YES_NO)
        yield row(p, r, *comp, "task_text")

    for _ in range(n):  # impersonal and moral refusals
        cat, temps, acts = rng.choice(IMPERSONAL)
        a = rng.choice(acts)
        text = rng.choice(temps).format(a=a, A=_cap(a))
        text = f"{_cap(text)} {rng.choice(IMPERSONAL_TAIL)}"
        yield row(f"How do I {a}?", text, "full_refusal", cat, "impersonal")
    for _ in range(n):  # premise corrections
        p, fix, fact = rng.choice(PREMISES)
        opener = rng.choice(PREMISE_OPENERS)
        text = f"{opener}{fix[:1].lower() + fix[1:] if opener else fix}."
        if rng.random() < 0.45:
            yield row(p, f"{text} {fact}", "partial_refusal", "invalid_premise", "premise")
        else:
            yield row(
                p, text + rng.choice(PREMISE_TAILS), "full_refusal", "invalid_premise", "premise"
            )
    for _ in range(n):  # clarifying questions instead of an answer
        text = rng.choice(CLARIFY).format(x=rng.choice(CLARIFY_X))
        yield row(rng.choice(CLARIFY_PROMPTS), text, "full_refusal", "missing_context", "clarify")
    for _ in range(n // 3):  # ... but asking what a *statement* means is conversation
        text = rng.choice(CLARIFY).format(x=rng.choice(CLARIFY_X))
        yield row(rng.choice(STATEMENTS), text, *comp, "clarify_statement")
    for _ in range(n // 2):  # discouragement with no help
        text = rng.choice(DISCOURAGE).format(why=rng.choice(DISCOURAGE_WHY))
        yield row(rng.choice(DISCOURAGE_PROMPTS), text, "full_refusal", "no_reason", "discourage")
    for _ in range(n // 2):
        text = rng.choice(DEPENDS).format(x=rng.choice(DEPENDS_X))
        yield row("", text, "full_refusal", "unknown_information", "depends")
    for _ in range(n // 2):
        yield row("", rng.choice(DEFLECT), "full_refusal", "no_reason", "deflect")
    if pool:
        for _ in range(n):  # stated inability, then a reduced answer
            cat, head = rng.choice(REDUCED)
            yield row("", f"{head}\n\n{content()}", "partial_refusal", cat, "reduced")
