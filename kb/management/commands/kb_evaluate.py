"""manage.py kb_evaluate [--set demo|heldout] [--account SLUG] [--sweep] [--floor]: how often the
knowledge-base search puts the right article first (kb/evaluation.py).

Loads the set's help centre into the account's schema inside a transaction that is rolled back
at the end (the account's own articles are untouched), embeds the questions once, and prints
recall@1, recall@5 and MRR@10 for meaning only, words only (full text + trigram) and the
fusion with `DEFAULT_WEIGHTS`, per kind of question (full, short, typo, code) and overall.
`--sweep` tries the fusion's weights (`sweep_grid`) and prints the table the weights were
chosen from; `--floor` prints the best-passage similarity of answerable and unanswerable
questions, the data behind `RELEVANCE_FLOOR`.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_tenants.utils import tenant_context

from accounts.commands import account_get
from kb import evaluation, search


class Command(BaseCommand):
    help = "Score the knowledge-base search on a labelled question set: recall@1, recall@5, MRR@10 of each half and the fusion."

    def add_arguments(self, parser):
        parser.add_argument("--set", default="demo", choices=sorted(evaluation.SETS), help="Which labelled set (default demo)")
        parser.add_argument("--account", default="demo", help="The account whose schema hosts the run (rolled back; default demo)")
        parser.add_argument("--sweep", action="store_true", help="Also try the fusion weights and print the sweep")
        parser.add_argument("--floor", action="store_true", help="Also print the similarities behind RELEVANCE_FLOOR")

    def handle(self, *args, **options):
        account = account_get(options["account"])
        chosen = evaluation.SETS[options["set"]]
        with tenant_context(account), transaction.atomic():
            self.stderr.write(f"loading the {chosen.name} help centre (rolled back at the end)...")
            questions = evaluation.set_load(chosen)
            if not questions:
                raise CommandError(f"{chosen.questions}: no questions")
            vectors = evaluation.question_vectors([q.text for q in questions])
            self._halves(questions, vectors)
            if options["sweep"]:
                self._sweep(questions, vectors)
            if options["floor"]:
                self._floor(questions, vectors)
            transaction.set_rollback(True)

    def _line(self, name: str, s: evaluation.Scores) -> None:
        self.stdout.write(f"{name:<24} recall@1={s.recall_at_1:.3f} recall@5={s.recall_at_5:.3f} mrr@10={s.mrr_at_10:.3f} n={s.n}")

    def _halves(self, questions, vectors) -> None:
        kinds = sorted({q.kind for q in questions})
        self.stdout.write(f"weights: {search.DEFAULT_WEIGHTS}")
        for name, lists in evaluation.HALVES.items():
            places = evaluation.ranks(questions, vectors, lists=lists)
            for kind in kinds:
                subset = [p for p, q in zip(places, questions) if q.kind == kind]
                self._line(f"{name} [{kind}]", evaluation.scores(subset))
            self._line(name, evaluation.scores(places))
            if name == "fusion":
                for place, q in zip(places, questions):
                    if place != 1:
                        self.stderr.write(f"  miss ({place}): {q.text!r} -> {q.slug}")

    def _sweep(self, questions, vectors) -> None:
        per_question = evaluation.list_ranks(questions, vectors)
        results = []
        for weights in evaluation.sweep_grid():
            s = evaluation.scores(evaluation.fused_places(questions, per_question, weights))
            results.append((s.recall_at_1, s.mrr_at_10, weights, s))
        self.stdout.write("sweep (vector weight 1; best 25 by recall@1 then MRR@10, then the equal-weight RRF):")
        results.sort(key=lambda r: (-r[0], -r[1], r[2].words + r[2].trigram))
        equal = [r for r in results if r[2].k == 60 and r[2].words == 1.0 and r[2].trigram in (0.0, 1.0)]
        for _, _, weights, s in results[:25] + equal:
            self.stdout.write(f"  k={weights.k:<3} words={weights.words:<5} trigram={weights.trigram:<5} "
                              f"recall@1={s.recall_at_1:.3f} recall@5={s.recall_at_5:.3f} mrr@10={s.mrr_at_10:.3f}")
        self.stdout.write(f"best: {results[0][2]}")

    def _floor(self, questions, vectors) -> None:
        answerable = evaluation.best_similarities(questions, vectors)
        unanswerable_q = evaluation.questions_read(evaluation.UNANSWERABLE)
        unanswerable = evaluation.best_similarities(unanswerable_q, evaluation.question_vectors([q.text for q in unanswerable_q]))
        self.stdout.write(f"answerable best similarity:   {evaluation.summary(answerable)}")
        self.stdout.write(f"unanswerable best similarity: {evaluation.summary(unanswerable)}")
        for question, similarity in zip(unanswerable_q, unanswerable):
            if similarity >= search.RELEVANCE_FLOOR:
                self.stdout.write(f"  unanswerable above the floor ({similarity:.3f}): {question.text!r}")
        for floor, kept, leaked in evaluation.floor_table(answerable, unanswerable):
            self.stdout.write(f"  floor={floor:.2f} answerable kept={kept:.3f} unanswerable let through={leaked:.3f}")
