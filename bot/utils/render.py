"""What the bot shows: answers as embeds, within Discord's limits, with no way to ping anyone.

Passage and question text comes from articles and users, so every piece is
escaped (markdown and mentions) before it is formatted, and every field is cut
to Discord's limits with an ellipsis. The limits are checked in one place,
``fit_embed``, which every embed goes through. Also here: the short embeds
(``notice``, ``paged_embed``) and the polite lines (``not_found``,
``question_problem``) the cogs send.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import discord

from index.errors import EmptyQuestionError, QuestionError
from index.retrieval import MAX_QUESTION_CHARS, Answer, Citation

MESSAGE_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELDS_LIMIT = 25
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
QUOTE_BUDGET = 900
"""Characters of one quoted passage at most (the best sentence is always kept)."""

COLOUR = discord.Colour.from_rgb(91, 125, 177)
NOTHING_FOUND = (
    "I could not find anything in the articles that answers this closely enough. "
    "Try naming a person, place or event from the articles, or ask a moderator to add a "
    "source with `/article add`."
)


def not_found(answer: Answer) -> str:
    """Why nothing is cited: a name no article mentions, or nothing close enough."""
    if answer.unknown_names:
        names = ", ".join(f"“{safe(n)}”" for n in answer.unknown_names[:5])
        return (f"None of the articles mentions {names}, so I have no sources for this. "
                "A moderator can add an article that covers it with `/article add`.")
    return NOTHING_FOUND


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def safe(text: str) -> str:
    """User or article text made inert: markdown escaped, mentions broken."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def one_line(text: str) -> str:
    """Whitespace collapsed (a quoted passage must not break the layout)."""
    return " ".join(text.split())


def quote_passage(citation: Citation, budget: int = QUOTE_BUDGET) -> str:
    """The passage with its best sentence in bold, trimmed around that sentence to ``budget``."""
    text = citation.passage.text
    a, b = citation.highlight_start, citation.highlight_end
    before, best, after = one_line(text[:a]), one_line(text[a:b]), one_line(text[b:])
    best = cut(best, budget)
    room = max(0, budget - len(best))
    keep_before = min(len(before), room // 2)
    keep_after = min(len(after), room - keep_before)
    keep_before = min(len(before), room - keep_after)
    head = ("…" + before[len(before) - keep_before + 1:]) if keep_before < len(before) else before
    tail = (after[: max(0, keep_after - 1)] + "…") if keep_after < len(after) else after
    if keep_before == 0 and before:
        head = "…"
    parts = [safe(head), f"**{safe(best)}**" if best else "", safe(tail)]
    return " ".join(p for p in parts if p)


def text_fragment_url(url: str, sentence: str) -> str:
    """``url`` opening at ``sentence`` (a ``#:~:text=`` fragment), or ``url`` alone."""
    if not url or not sentence.strip():
        return url
    words = re.findall(r"\S+", sentence)
    if len(sentence) <= 80 or len(words) <= 10:
        target = _fragment_part(" ".join(words))
    else:
        target = f"{_fragment_part(' '.join(words[:5]))},{_fragment_part(' '.join(words[-5:]))}"
    base = url.split("#", 1)[0]
    return f"{base}#:~:text={target}"


def _fragment_part(text: str) -> str:
    """``text`` encoded for a text fragment: the syntax gives '-', ',' and '&' meanings,
    so they are encoded too."""
    return quote(text, safe="").replace("-", "%2D")


def source_line(citation: Citation) -> str:
    """Title, author, article or reader comment, paragraph, and a preview-free link."""
    p = citation.passage
    where = (f"reader comment {p.comment}" if p.kind == "comment" else "article")
    author = f" by {safe(p.author)}" if p.author else ""
    line = f"*{safe(cut(p.title, 150))}*{author} · {where}, paragraph {p.paragraph}"
    if p.url:
        link = text_fragment_url(p.url, citation.highlight)
        if len(link) > 500:
            link = p.url.split("#", 1)[0]
        if len(link) <= 500:
            line += f" · [open at the quote](<{link}>)"
    return line


def answer_embed(question: str, answer: Answer, citations: list[Citation], first_rank: int = 1,
                 heading: str = "Sources") -> discord.Embed:
    """An embed of numbered citations for ``question``."""
    embed = discord.Embed(title=cut(f"{heading}: {safe(one_line(question))}", TITLE_LIMIT),
                          colour=COLOUR)
    if not citations:
        embed.description = not_found(answer) if not answer.answered else "No further sources."
        return fit_embed(embed)
    budget = max(200, (DESCRIPTION_LIMIT - 100) // len(citations) - 300)
    blocks = []
    for n, citation in enumerate(citations, start=first_rank):
        blocks.append(f"**{n}.** “{quote_passage(citation, budget)}”\n— {source_line(citation)}")
    embed.description = "\n\n".join(blocks)
    return fit_embed(embed)


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """Cut every part of an embed to Discord's limits, the total included."""
    if embed.title:
        embed.title = cut(embed.title, TITLE_LIMIT)
    if embed.description:
        embed.description = cut(embed.description, DESCRIPTION_LIMIT)
    fields = embed.fields[:FIELDS_LIMIT]
    embed.clear_fields()
    for f in fields:
        embed.add_field(name=cut(f.name or "\u200b", FIELD_NAME_LIMIT),
                        value=cut(f.value or "\u200b", FIELD_VALUE_LIMIT), inline=f.inline)
    if embed.footer and embed.footer.text:
        embed.set_footer(text=cut(embed.footer.text, FOOTER_LIMIT))
    overflow = len(embed) - EMBED_TOTAL_LIMIT
    if overflow > 0 and embed.description:
        embed.description = cut(embed.description, max(1, len(embed.description) - overflow))
    while len(embed) > EMBED_TOTAL_LIMIT and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    return embed


def notice(text: str, title: str = "") -> discord.Embed:
    """A short embed for confirmations and refusals."""
    embed = discord.Embed(title=cut(title, TITLE_LIMIT) if title else None,
                          description=cut(text, DESCRIPTION_LIMIT), colour=COLOUR)
    return fit_embed(embed)


def question_problem(exc: QuestionError) -> str:
    """A polite reply to a question that cannot be asked (empty or too long)."""
    if isinstance(exc, EmptyQuestionError):
        return "Your question is empty: ask me something about the articles."
    return (f"Your question is too long for me: please keep it under {MAX_QUESTION_CHARS} "
            "characters.")


def with_quoted_message(embed: discord.Embed, text: str, author: str) -> discord.Embed:
    """The embed with the message it gives sources for quoted on top."""
    embed.description = cut(f"> {safe(cut(one_line(text), 300))}\n— {safe(author)}\n\n"
                            f"{embed.description or ''}", DESCRIPTION_LIMIT)
    return fit_embed(embed)


def paged_embed(title: str, lines: list[str], page: int, per_page: int = 10) -> discord.Embed:
    """One page of a list, with the page count in the footer."""
    pages = max(1, -(-len(lines) // per_page))
    page = min(max(1, page), pages)
    chunk = lines[(page - 1) * per_page: page * per_page]
    embed = notice("\n".join(f"{(page - 1) * per_page + n}. {line}"
                             for n, line in enumerate(chunk, start=1)) or "None yet.", title)
    embed.set_footer(text=f"Page {page} of {pages} · {len(lines)} in all")
    return embed
