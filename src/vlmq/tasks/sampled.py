"""Tasks over samples: generate greedily, score, store each sample as it is produced, and measure each
recipe's fidelity to the run's baseline on the same samples (``vlmq.tasks.fidelity``).

`SampleTask` is the run loop every sample task shares; `DatasetTask` adds loading one lmms-lab-format
table (restrict → stratified subsample → samples).
"""

from __future__ import annotations

from vlmq.store import Store, prompt_hash
from vlmq.tasks.base import Sample, Task, TaskOptions, TaskRun, check_unique_ids, failed_score
from vlmq.tasks.fidelity import run_fidelity_pass
from vlmq.tasks.images import prepare_image, preprocess_label
from vlmq.tasks.sampling import stratified_sample
from vlmq.tasks.sources import HubSource, ShapesSource, load_table


class SampleTask(Task):
    """A task over samples: generate greedily for each sample not yet stored, score it, commit it.

    Subclasses implement ``score``; scored tasks also ``aggregate`` rows into metrics and ``compare`` a
    recipe's rows with the baseline's (paired tests). A task without a score (a prompt set) stores the
    generations only.
    """

    def run(self, ctx: TaskRun, opts: TaskOptions) -> int:
        produced = 0 if ctx.references_only else self.generate(ctx, opts)
        # fidelity (#18): the baseline's references, or this recipe against them (on the same samples)
        baseline = ctx.baseline if ctx.baseline is not None else ctx.recipe
        return produced + run_fidelity_pass(
            ctx.engine, self, ctx.samples, ctx.store, ctx.recipe, baseline, opts.batch_size, ctx.progress, ctx.rank
        )

    def generate(self, ctx: TaskRun, opts: TaskOptions) -> int:
        """Generate, score and store every sample of this process's share not stored yet."""
        done = ctx.store.done_ids(ctx.recipe, self.name)
        todo = [s for s in ctx.samples if s.id not in done]
        with ctx.progress.bar(len(todo), f"{ctx.recipe} · {self.name}") as bar:
            for start in range(0, len(todo), opts.batch_size):
                batch = todo[start : start + opts.batch_size]
                ok = [s for s in batch if not s.failed]
                prompts = [s.prompt for s in ok]
                generations = (
                    dict(zip([s.id for s in ok], ctx.engine.generate(prompts, self.max_new_tokens))) if ok else {}
                )
                for sample in batch:
                    ctx.store.put_sample(self.sample_row(ctx, sample, generations.get(sample.id), opts))
                bar.update(len(batch))
        return len(todo)

    def sample_row(self, ctx: TaskRun, sample: Sample, gen, opts: TaskOptions) -> dict:
        """The stored row of one sample: its output, parsed answer, score (or failure) and timings."""
        output = gen.text if gen is not None else ""
        scored = self.score(sample, output, opts)
        return {
            "recipe": ctx.recipe,
            "task": self.name,
            "sample_id": sample.id,
            "prompt_hash": prompt_hash(sample.prompt.text, sample.prompt.image),
            "output": output,
            "parsed": scored.get("parsed"),
            "score": scored.get("score"),
            "target": sample.target,
            "meta": sample.meta,
            "timings": gen.timings if gen is not None else None,
            "error": scored.get("error"),
            "rank": ctx.rank,
        }

    def score(self, sample: Sample, output: str, opts: TaskOptions) -> dict:
        """Scored tasks override this; a prompt set keeps the answer unscored."""
        if sample.failed:
            return failed_score(sample)
        return {"parsed": output.strip() or None, "score": None}

    def aggregate(self, rows: list[dict], opts: TaskOptions) -> list[dict]:
        return []

    def compare(self, base_rows: list[dict], rows: list[dict], opts: TaskOptions) -> list[dict]:
        return []

    def paired(self, store: Store, base_recipe: str, recipe: str, opts: TaskOptions) -> list[dict]:
        base_rows, rows = store.samples(base_recipe, self.name), store.samples(recipe, self.name)
        return self.compare(base_rows, rows, opts) if base_rows and rows else []

    def records(self, store: Store, recipe: str, baseline: str | None, opts: TaskOptions) -> list[dict]:
        rows = store.samples(recipe, self.name)
        if not rows:
            return []
        metrics = self.aggregate(rows, opts)
        if baseline is not None and baseline != recipe:
            paired = {(c["task"], c["metric"]): c for c in self.paired(store, baseline, recipe, opts)}
            for rec in metrics:
                comp = paired.get((rec["task"], rec["metric"]))
                if comp is not None:
                    rec.update(
                        delta=comp["delta"],
                        delta_ci_low=comp["ci_low"],
                        delta_ci_high=comp["ci_high"],
                        p_value=comp["p_value"],
                        paired_test=comp["test"],
                        paired_n=comp["n"],
                    )
        for rec in metrics:
            if self.headline is not None and rec["task"] == self.name and rec["metric"] == self.headline.metric:
                rec.update(headline=True, display_scale=self.headline.scale, unit=self.headline.unit)
        return [{"recipe": recipe, **rec} for rec in metrics]


class DatasetTask(SampleTask):
    """An accuracy task over one lmms-lab-format table: load → restrict → subsample → samples.

    Subclasses give the data source, the stratum of each row (`strata`), and `make_sample`.
    """

    source: "HubSource | ShapesSource"

    def load(self, opts: TaskOptions) -> list[Sample]:
        table = self.restrict(self.load_table(opts))
        rows = table.select(self.select(table, opts))
        samples = self.number([self.build_sample(row, opts) for row in rows])
        check_unique_ids(samples, self.name)
        return samples

    def number(self, samples: list[Sample]) -> list[Sample]:
        """Final sample ids (MME appends the question's position within its image)."""
        return samples

    def load_table(self, opts: TaskOptions) -> "datasets.Dataset":  # noqa: F821
        return load_table(self.source, opts)

    def restrict(self, table):
        """The rows this task variant covers (e.g. one POPE split of the pooled table)."""
        return table

    def select(self, table, opts: TaskOptions) -> list[int]:
        return stratified_sample(self.strata(table), opts.limit, opts.seed)

    def strata(self, table) -> list[tuple[str, ...]]:
        raise NotImplementedError

    def build_sample(self, row: dict, opts: TaskOptions) -> Sample:
        image, error = prepare_image(row["image"], opts.jpeg_quality)
        sample = self.make_sample(row, image)
        meta = dict(sample.meta, image_preprocess=preprocess_label(opts.jpeg_quality))
        if error is not None:
            meta["error"] = error
        return Sample(id=sample.id, prompt=sample.prompt, target=sample.target, meta=meta)

    def make_sample(self, row: dict, image) -> Sample:
        raise NotImplementedError
