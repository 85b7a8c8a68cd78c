"""Reference task data for the `ml-incident-triage` challenge.

Written from the public instructions, the published prompt and the public examples only, never from
the challenge's generator. Each pair is (incident report, label) where the label is exactly one of the
eight root causes the instructions name.

Labels are right by construction: the label is chosen first (every label equally often), then a report
is composed around one of that label's scenarios:

- a setup (model size and kind, GPUs, precision, framework, launcher) in one of many phrasings, or none;
- the symptom, written the way an engineer describes it, and usually a log excerpt from the same
  scenario (CUDA OOM messages, NaN losses, NCCL timeouts, import and driver errors, ...);
- what was tried, generic ("tried a fresh node") or specific to the cause ("halving the batch size only
  delayed the crash");
- observations that rule other causes out (an out_of_memory report that says "loss looks fine, no
  NaNs", a slow_throughput report that says memory is well under the limit). They never name the
  report's own cause, and scenarios that contradict a rule-out (an input-bound slow run and "data
  loading looks fine") leave it out.

Around them: ticket titles, chat pastes, bullet lists, prose or one line per fact, log headers, fenced
or indented logs, tracebacks, and closing questions. Templates carry placeholders filled from one
consistent context per report (an OOM message reports the capacity of the card in the setup; a best
epoch comes before the current one); templates that need several GPUs, several nodes, DeepSpeed, fp16
or a language model are only used when the setup has them.
"""

from __future__ import annotations

import random
import re

LABELS = (
    "out_of_memory",
    "loss_divergence",
    "overfitting",
    "data_pipeline",
    "checkpointing",
    "distributed_hang",
    "slow_throughput",
    "dependency_error",
)

# ---------------------------------------------------------------------------------------------------
# Setups: hardware (description, GiB per GPU, GPUs, nodes), models (size, description, kind),
# training methods, precisions, frameworks (and whether they need several GPUs), launchers.
# ---------------------------------------------------------------------------------------------------

HARDWARE: tuple[tuple[str, int, int, int], ...] = (
    ("a single H100", 80, 1, 1),
    ("one RTX 4090", 24, 1, 1),
    ("a single A100 40GB", 40, 1, 1),
    ("one A100 80GB", 80, 1, 1),
    ("a single L4", 24, 1, 1),
    ("one V100 16GB", 16, 1, 1),
    ("a T4 on a cloud notebook box", 16, 1, 1),
    ("a workstation RTX 3090", 24, 1, 1),
    ("a single L40S", 48, 1, 1),
    ("one A6000", 48, 1, 1),
    ("2x RTX 4090", 24, 2, 1),
    ("2x L40S", 48, 2, 1),
    ("4x A10G", 24, 4, 1),
    ("4x RTX 3090", 24, 4, 1),
    ("4x A100 40GB", 40, 4, 1),
    ("8x A100 80GB", 80, 8, 1),
    ("8x H100 SXM", 80, 8, 1),
    ("8x H200", 141, 8, 1),
    ("an 8-GPU V100 box", 32, 8, 1),
    ("16 H100s across 2 nodes", 80, 16, 2),
    ("2 nodes of 8x A100", 80, 16, 2),
    ("32 H100s over 4 nodes", 80, 32, 4),
    ("64 A100s across 8 nodes", 80, 64, 8),
    ("4 nodes x 8 H100 (InfiniBand)", 80, 32, 4),
    ("128 H100s (16 nodes)", 80, 128, 16),
)

# (size, description, kind, billions of parameters)
MODELS: tuple[tuple[str, str, str, float], ...] = (
    ("124M", "GPT-2 small", "lm", 0.124),
    ("135M", "135M base", "lm", 0.135),
    ("350M", "350M decoder", "lm", 0.35),
    ("1B", "1B base", "lm", 1),
    ("1.3B", "1.3B decoder", "lm", 1.3),
    ("3B", "3B instruct model", "lm", 3),
    ("7B", "7B base", "lm", 7),
    ("7B", "Mistral-7B", "lm", 7),
    ("8B", "Llama-3-8B", "lm", 8),
    ("13B", "13B Llama-style model", "lm", 13),
    ("14B", "14B chat model", "lm", 14),
    ("34B", "34B code model", "lm", 34),
    ("70B", "70B base", "lm", 70),
    ("110M", "BERT-base classifier", "lm", 0.11),
    ("770M", "T5-large", "lm", 0.77),
    ("86M", "ViT-B/16 image classifier", "vision", 0.086),
    ("300M", "ViT-L/16", "vision", 0.3),
    ("25M", "ResNet-50", "vision", 0.025),
    ("860M", "Stable Diffusion UNet", "vision", 0.86),
    ("244M", "Whisper-small", "speech", 0.244),
    ("769M", "Whisper-medium", "speech", 0.769),
)

THROUGHPUT_UNITS = {"lm": "tokens/s", "vision": "images/s", "speech": "samples/s"}

# (noun phrase, verb phrase before the model, phrase after the model)
METHODS: tuple[tuple[str, str, str], ...] = (
    ("full fine-tune", "fully fine-tuning", ""),
    ("full fine-tune", "fine-tuning", ""),
    ("LoRA fine-tune (r={lora_r})", "fine-tuning", " with LoRA (r={lora_r})"),
    ("QLoRA fine-tune", "fine-tuning", " with QLoRA (4-bit base)"),
    ("continued pretraining", "continuing pretraining of", ""),
    ("pretraining run", "pretraining", " from scratch"),
    ("SFT run", "running SFT on", ""),
    ("instruction tuning", "instruction-tuning", ""),
    ("DPO run", "running DPO on", ""),
)
# Methods that keep full optimizer states for every weight.
FULL_METHODS = ("full fine-tune", "continued pretraining", "pretraining run", "SFT run", "instruction tuning")

PRECISIONS = (
    "bf16",
    "fp16",
    "fp32",
    "bf16 mixed precision",
    "fp16 with AMP",
    "tf32",
    "fp8 via Transformer Engine",
)

# (framework, needs several GPUs); fp8 is only used on H100 / H200 setups.
FRAMEWORKS: tuple[tuple[str, bool], ...] = (
    ("HF Trainer", False),
    ("Accelerate", False),
    ("plain PyTorch", False),
    ("a plain PyTorch loop", False),
    ("PyTorch Lightning", False),
    ("TRL's SFTTrainer", False),
    ("DeepSpeed ZeRO-2", False),
    ("DeepSpeed ZeRO-3", True),
    ("FSDP", True),
    ("PyTorch DDP", True),
    ("torchrun + our own loop", True),
    ("Megatron-LM", True),
    ("Accelerate with FSDP", True),
    ("HF Trainer + DeepSpeed", True),
)

LAUNCHERS = (
    "slurm",
    "torchrun",
    "accelerate launch",
    "the deepspeed launcher",
    "a Kubernetes PyTorchJob",
    "Ray",
)

RUN_PREFIXES = {
    "lm": ("sft", "pt", "ft", "dpo", "lora", "cpt", "run", "exp", "llm", "base"),
    "vision": ("vit", "cls", "img", "run", "exp", "ft"),
    "speech": ("asr", "whisper", "run", "exp", "ft"),
}
# Frameworks only used for language models.
LM_ONLY_FRAMEWORKS = ("TRL's SFTTrainer", "Megatron-LM")
RUN_SUFFIXES = ("v2", "v3", "long", "ctx8k", "big", "nightly", "ablation", "baseline", "mix2", "final")

# ---------------------------------------------------------------------------------------------------
# Scenarios per label: symptoms and the log excerpts that go with them (any symptom of a scenario
# reads right with any of its logs). `no_rule_out` names causes whose rule-out sentences would
# contradict the scenario.
# ---------------------------------------------------------------------------------------------------

Scenario = dict[str, tuple[str, ...]]

GPU_OOM_LOGS = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {alloc} GiB. GPU {dev} has a total "
    "capacity of {cap} GiB of which {free_mib} MiB is free.",
    "RuntimeError: CUDA error: out of memory",
    "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate {alloc_mib} MiB (GPU {dev}; {cap} "
    "GiB "
    "total capacity; {alloc_used} GiB already allocated; {free_mib} MiB free; {reserved} GiB reserved in "
    "total by PyTorch)",
    "[rank{rank}]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {alloc} GiB.",
    "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
    "RuntimeError: CUDA out of memory. Tried to allocate {alloc_mib} MiB",
    "step {step} | loss {loss} | mem {near_full_gib}GB\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {alloc} GiB.",
)

SCENARIOS: dict[str, tuple[Scenario, ...]] = {
    "out_of_memory": (
        {
            "tried": (
                "Halving the batch size only pushed the crash later.",
                "Setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True didn't fix it.",
                "Calling torch.cuda.empty_cache() between steps didn't help.",
                "Turning on gradient checkpointing got us further but it still crashes.",
                "We tried 8-bit Adam; it still runs out.",
                "It works at max length {seq_lo} and fails at {seq_hi}.",
                "Offloading the optimizer to CPU was our next idea but we'd rather understand it first.",
                "Mixed precision was already on.",
            ),
            "symptoms": (
                "The run dies with CUDA out of memory at step {step}, right after the first eval.",
                "It crashes with an OOM on the very first forward pass.",
                "Raising the max sequence length from {seq_lo} to {seq_hi} makes it crash with out of memory "
                "in the attention layer.",
                "Going from a per-device batch size of {bs_lo} to {bs_hi} makes the first step fail with "
                "CUDA OOM.",
                "Training steps are fine but the first evaluation with generation runs out of GPU memory.",
                "nvidia-smi shows {near_full_gib} of {gib} GB in use right before the crash with CUDA OOM.",
                "Rank {rank} runs out of GPU memory during the optimizer step and the whole job is torn "
                "down.",
                "We moved from adapters to a full fine-tune and the optimizer state no longer fits: CUDA OOM "
                "at the first optimizer step.",
                "The first backward pass tries to allocate past what the {gib} GB card has and fails.",
                "It OOMs only on the batches with the longest sequences, roughly once every {every} steps.",
                "With gradient checkpointing turned off the model no longer fits and we get CUDA OOM at step "
                "0.",
                "Peak allocated memory sits right at the card's limit; any batch slightly bigger than "
                "average throws CUDA out of memory.",
                "Since we doubled the vocab, the logits tensor for the loss is huge and the step fails with "
                "out of memory.",
                "It fits for training, but loading the DPO reference model next to the policy pushes GPU "
                "memory over the limit.",
                "Batch size 1 works, anything bigger gives CUDA out of memory.",
                "Turning off activation offload to speed things up made the run fail with CUDA OOM on step "
                "1.",
                "The {size} model plus AdamW states don't fit on the {gib} GB cards; it dies at the first "
                "optimizer step.",
                "Evaluation with a bigger eval batch size than training crashes with CUDA OOM.",
            ),
            "logs": GPU_OOM_LOGS,
        },
        {
            "tried": (
                "Halving the batch size only pushed the crash later.",
                "Setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True didn't fix it.",
                "Calling torch.cuda.empty_cache() between steps didn't help.",
                "Turning on gradient checkpointing got us further but it still crashes.",
            ),
            "symptoms": (
                "GPU memory climbs by about {leak_gib} GiB every few hundred steps until the job dies with "
                "CUDA OOM around step {step}.",
                "We keep every loss tensor (not .item()) in a list for logging, and GPU memory grows each "
                "step until the allocation fails.",
                "The allocator reports lots of reserved-but-unallocated memory and then an allocation fails "
                "anyway; fragmentation pushes us over the limit.",
                "After a few thousand steps memory fragmentation grows and the run fails with CUDA OOM "
                "trying to allocate a small block.",
                "Allocated memory creeps up every eval cycle (we never detach the eval outputs) until the "
                "GPU is full and the job crashes.",
            ),
            "logs": (
                "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {alloc_mib} MiB. GPU {dev} "
                "has "
                "a total capacity of {cap} GiB of which {free_mib} MiB is free. Of the allocated memory "
                "{alloc_used} GiB is allocated by PyTorch, and {frag_mib} MiB is reserved by PyTorch but "
                "unallocated. If reserved but unallocated memory is large try setting "
                "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.",
                "step {step_prev} | mem_allocated {used_gib}GB\nstep {step} | mem_allocated "
                "{near_full_gib}GB\n"
                "torch.OutOfMemoryError: CUDA out of memory.",
                "RuntimeError: CUDA error: out of memory",
                "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {alloc_mib} MiB.",
            ),
        },
        {
            "tried": (
                "Cutting num_workers from {nw} to 2 only delays the kill.",
                "Asking Slurm for more memory just moves the crash later.",
                "Loading with low_cpu_mem_usage=True didn't help.",
                "Memory-mapping the dataset is the next thing we want to try.",
            ),
            "symptoms": (
                "Host RAM fills up while loading the model and the kernel OOM killer ends the run.",
                "dmesg shows the OOM killer picking our python process; host RAM hits {host_gib} GB.",
                "After enabling CPU offload for the optimizer, host memory grows until the process is killed "
                "by the OOM killer.",
                "Each dataloader worker holds its own copy of the whole dataset in RAM; with {nw} workers "
                "the "
                "node runs out of memory and the job is killed.",
                "The process gets SIGKILLed a few minutes in; memory monitoring shows host RAM at 100% just "
                "before.",
                "Loading the {size} weights in fp32 on CPU before moving them to the GPUs exhausts the "
                "{host_gib} GB of RAM and the kernel kills the job.",
                "RSS of the training process grows steadily over the epoch until the node runs out of RAM.",
            ),
            "logs": (
                "Killed",
                "Out of memory: Killed process {pid} (python) total-vm:{vm_kb}kB, anon-rss:{rss_kb}kB",
                "torch.distributed.elastic.multiprocessing.api:failed (exitcode: -9) local_rank: {dev} "
                "(pid: {pid})\nOut of memory: Killed process {pid} (python)",
                "RuntimeError: DataLoader worker (pid {pid}) is killed by signal: Killed.\n"
                "[{uptime}] Out of memory: Killed process {pid} (pt_data_worker)",
            ),
        },
        {
            "tried": (
                "Asking Slurm for more memory just moves the crash later.",
                "Cutting num_workers from {nw} to 2 only delays the kill.",
            ),
            "symptoms": (
                "Slurm kills the step with an oom_kill event; the job had asked for {host_gib}G of memory.",
                "The Slurm job ends in state OUT_OF_MEMORY a few minutes after the dataloaders start.",
            ),
            "logs": (
                "slurmstepd: error: Detected 1 oom_kill event in StepId={jobid}.0. Some of the step tasks "
                "have "
                "been OOM Killed.",
                "/var/spool/slurmd/job{jobid}/slurm_script: line 24: {pid} Killed  python train.py",
            ),
        },
        {
            "tried": (
                "Raising the pod memory limit just moves the crash later.",
                "Loading with low_cpu_mem_usage=True didn't help.",
            ),
            "symptoms": (
                "The container is OOMKilled (exit code 137) while the dataloader workers spin up.",
                "The pod restarts with reason OOMKilled; the memory limit is {host_gib}Gi.",
            ),
            "logs": ("Reason: OOMKilled\nExit Code: 137", "command terminated with exit code 137"),
        },
    ),
    "loss_divergence": (
        {
            "symptoms": (
                "Loss was {loss} and then spiked to 1e4 within {every} steps before turning into NaN.",
                "The loss becomes NaN around step {step} and stays NaN.",
                "Grad norm climbs from about {gn_lo} to {gn_hi} over a few hundred steps, then the loss is "
                "inf.",
                "As soon as warmup ends and the LR reaches {lr}, the loss starts oscillating wildly and then "
                "explodes.",
                "Loss spikes hard every few thousand steps; the last spike never recovered and it's NaN now.",
                "Training loss goes from {loss} to nan in a single step at step {step}.",
                "Attention logits keep growing and the loss goes to inf shortly after step {step}.",
                "We bumped the learning rate to {lr} and the loss diverged within the first epoch.",
                "Gradients in the first layers become inf a few hundred steps in.",
                "Train and eval loss both shoot up together after step {step}; gradient norms are enormous.",
                "The loss curve was smooth until step {step}, then jumped by two orders of magnitude and "
                "never "
                "came back.",
                "With beta2 set to {beta2} the loss spikes repeatedly and finally hits NaN.",
                "Some weights are NaN after step {step} and every later batch gives a NaN loss.",
                "The DPO loss blows up: reward margins explode and the loss is NaN from step {step} on.",
                "Loss goes up instead of down from the start and reaches inf after {every} steps.",
                "Removing gradient clipping made the loss blow up to inf within a few hundred steps.",
                "The loss was fine for {epoch} hours, then grad norm jumped to {gn_hi} and the loss became "
                "NaN.",
                "Loss spikes to several times its value, partially recovers, spikes again, and is NaN by "
                "step {step}.",
            ),
            "logs": (
                "step {step} | loss {loss} | grad_norm {gn_lo} | lr {lr}\n"
                "step {step2} | loss nan | grad_norm nan | lr {lr}",
                "{{'loss': nan, 'grad_norm': nan, 'learning_rate': {lr}, 'epoch': {epoch_f}}}",
                "{{'loss': {loss_hi}, 'grad_norm': {gn_hi}, 'learning_rate': {lr}, 'epoch': {epoch_f}}}\n"
                "{{'loss': nan, 'grad_norm': nan, 'learning_rate': {lr}, 'epoch': {epoch_f}}}",
                "RuntimeError: Function 'LogSoftmaxBackward0' returned nan values in its 0th output.",
                "WARNING: non-finite loss detected at step {step}, skipping batch",
                "train/loss={loss_hi} train/grad_norm={gn_hi} step={step}",
                "iter {step}: loss {loss}, grad norm {gn_lo}\niter {step2}: loss {loss_hi}, grad norm "
                "{gn_hi}\n"
                "iter {step3}: loss inf, grad norm inf",
                "Monitored metric train_loss = nan is not finite. Previous best value was {loss}. Signaling "
                "Trainer to stop.",
                "loss: {loss} -> {loss_hi} -> inf -> nan",
            ),
        },
        {
            "symptoms": (
                "In fp16 the loss scaler keeps halving until it reaches the minimum, then the loss is NaN.",
                "Every step overflows in fp16 after step {step}: the loss scale goes down to 1 and the loss "
                "turns into NaN.",
                "The gradient scaler skips more and more steps, and from step {step} the loss is NaN.",
                "Mixed precision run: overflow warnings every step, then the loss is inf and later NaN.",
            ),
            "logs": (
                "[DeepSpeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: {scale}, reducing to "
                "{scale_half}",
                "Current loss scale already at minimum - cannot decrease scale anymore. Exiting run.",
                "Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to {scale_half}",
                "step {step} | loss nan | loss_scale 1.0 | grad_norm inf",
            ),
        },
    ),
    "overfitting": (
        {
            "symptoms": (
                "Each extra epoch makes the eval score worse even though train loss is close to zero.",
                "Train loss keeps dropping but validation loss bottomed out at epoch {best_epoch} and has "
                "risen ever since.",
                "Eval loss goes up after epoch {best_epoch} while train loss keeps going down.",
                "The gap between train and val loss widens every epoch.",
                "The best checkpoint by val loss is from epoch {best_epoch}; everything after it is better "
                "on "
                "train and worse on eval.",
                "We removed dropout and weight decay; since then validation gets worse every epoch while "
                "training loss keeps falling.",
                "Great on the training prompts, bad on new ones: eval loss has been rising since epoch "
                "{best_epoch}.",
                "We trained for {epoch} epochs instead of 2 and the held-out metrics are worse than the "
                "2-epoch run, although train loss is much lower.",
                "Val perplexity climbs after epoch {best_epoch} while train perplexity keeps falling.",
                "On our small dataset ({n_rows_small} examples) the model memorizes the train set by epoch "
                "{epoch}; held-out loss has gone up since epoch {best_epoch}.",
                "The tuned model reproduces training examples verbatim, and its held-out loss is much worse "
                "than it was at epoch {best_epoch}.",
                "Train loss is at {train_loss} and still falling; val loss has gone from {best_val} to "
                "{val_loss}.",
                "Looks great on the training curve, but every eval after epoch {best_epoch} is worse than "
                "the "
                "one before.",
            ),
            "logs": (
                "epoch {epoch}: train_loss={train_loss} val_loss={val_loss} (best val_loss {best_val} at "
                "epoch "
                "{best_epoch})",
                "{{'eval_loss': {best_val}, 'epoch': {best_epoch}.0}}\n"
                "{{'eval_loss': {val_loss}, 'epoch': {epoch}.0}}\n{{'loss': {train_loss}, 'epoch': "
                "{epoch}.0}}",
                "Monitored metric val_loss did not improve in the last {patience} records. Best score: "
                "{best_val}. Signaling Trainer to stop.",
                "epoch  train_loss  val_loss\n{best_epoch}  {train_loss_early}  {best_val}\n"
                "{epoch}  {train_loss}  {val_loss}",
                "val_loss did not improve from {best_val} (patience {patience}/{patience_max}); train_loss "
                "{train_loss}",
                "train/loss {train_loss}  eval/loss {val_loss}  eval/loss_best {best_val}",
            ),
        },
        {
            "symptoms": (
                "Train accuracy is {train_acc}% while validation accuracy fell from {val_best}% to "
                "{val_now}%.",
                "Held-out F1 peaked at epoch {best_epoch} and is lower now, while train F1 is close to 1.0.",
                "Train accuracy keeps going up, test accuracy has dropped a little every epoch since epoch "
                "{best_epoch}.",
                "On the held-out split we're down to {val_now}% from a peak of {val_best}% at epoch "
                "{best_epoch}; train accuracy is {train_acc}%.",
                "Heavier augmentation was turned off by mistake; now the model hits {train_acc}% on train "
                "and "
                "validation accuracy gets worse each epoch.",
            ),
            "logs": (
                "Epoch {best_epoch} | train acc {train_acc_early}% | val acc {val_best}%\n"
                "Epoch {epoch} | train acc {train_acc}% | val acc {val_now}%",
                "epoch {epoch}: train_acc={train_acc}% val_acc={val_now}% (best val_acc {val_best}% at epoch "
                "{best_epoch})",
                "Monitored metric val_acc did not improve in the last {patience} records. Best score: "
                "{val_best_frac}. Signaling Trainer to stop.",
            ),
        },
        {
            "symptoms": (
                "Training reward keeps going up, but the win rate on the held-out prompts falls with every "
                "epoch.",
                "Reward on the training prompts is climbing steadily while the held-out reward has been "
                "dropping since epoch {best_epoch}.",
            ),
            "logs": (
                "epoch {epoch}: train_reward={train_reward} heldout_winrate={val_now}% (best {val_best}% at "
                "epoch {best_epoch})",
            ),
        },
    ),
    "data_pipeline": (
        {
            "tried": (
                "Setting num_workers=0 gives the same error, just with a cleaner traceback.",
                "Skipping shard {shard} makes the error move to another shard.",
            ),
            "symptoms": (
                "A worker raises UnicodeDecodeError while reading shard {shard}.",
                "The loader dies on shard {shard}: some records in it aren't valid UTF-8.",
                "Part of the new scrape was saved as latin-1, and the loader crashes on the first such file.",
            ),
            "logs": (
                "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position {pos}: invalid start "
                "byte",
                "RuntimeError: Caught UnicodeDecodeError in DataLoader worker process {worker}.",
                "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9 in position {pos}: invalid "
                "continuation byte",
            ),
        },
        {
            "tried": (
                "Setting num_workers=0 gives the same error, just with a cleaner traceback.",
                "Re-downloading the dataset didn't help; the bad file is in the source export.",
            ),
            "symptoms": (
                "The loader crashes with a JSONDecodeError on shard {shard}; the file's last line is "
                "truncated.",
                "One jsonl file from the export is malformed and dataset loading fails on it.",
                "The upload of shard {shard} was cut short, so the last record is half a JSON object.",
            ),
            "logs": (
                "json.decoder.JSONDecodeError: Unterminated string starting at: line 1 column {col} "
                "(char {pos})",
                "pyarrow.lib.ArrowInvalid: JSON parse error: Missing a closing quotation mark in string. in "
                "row "
                "{row}",
                "datasets.exceptions.DatasetGenerationError: An error occurred while generating the dataset",
            ),
        },
        {
            "symptoms": (
                "The CSV has newlines inside quoted fields and the loader reads {bad_rows} rows with the "
                "wrong "
                "number of columns, then errors.",
                "Some rows in the CSV have extra delimiters and parsing fails partway through.",
            ),
            "logs": (
                "pandas.errors.ParserError: Error tokenizing data. C error: Expected 4 fields in line {row}, "
                "saw 7",
            ),
        },
        {
            "symptoms": (
                "The new parquet export renamed the 'text' column, so the dataset raises KeyError on the "
                "first "
                "batch.",
                "The upstream team changed the schema; our preprocessing looks for a 'text' field that no "
                "longer "
                "exists.",
            ),
            "logs": ("KeyError: 'text'",),
        },
        {
            "symptoms": (
                "Shard {shard} is listed in the index but missing from the bucket, so the loader fails with "
                "FileNotFoundError.",
                "The manifest points at shards that were deleted in the cleanup, and loading fails when it "
                "reaches them.",
            ),
            "logs": (
                "FileNotFoundError: [Errno 2] No such file or directory: "
                "'/mnt/datasets/{run_name}/shard-{shard:05d}.tar'",
            ),
        },
        {
            "symptoms": (
                "The dataset has 0 rows after our filtering step, and the run fails before the first batch.",
                "A bad length filter dropped every example; the train split is empty.",
            ),
            "logs": (
                "ValueError: num_samples should be a positive integer value, but got num_samples=0",
                "IndexError: list index out of range",
            ),
        },
        {
            "symptoms": (
                "Collate fails because samples in a batch have different lengths; padding isn't applied.",
                "Since the tokenizer config change, padding is off and batches can't be stacked.",
            ),
            "logs": (
                "RuntimeError: stack expects each tensor to be equal size, but got [{len_a}] at entry 0 and "
                "[{len_b}] at entry {entry}",
                "ValueError: Unable to create tensor, you should probably activate truncation and/or padding "
                "with 'padding=True' 'truncation=True' to have batched tensors with the same length.",
            ),
        },
        {
            "symptoms": (
                "Input and label batches come out with different sizes after the dedup step and the loss "
                "call "
                "errors.",
                "The dedup script dropped rows from the inputs file but not from the labels file, so they no "
                "longer line up.",
            ),
            "logs": (
                "ValueError: Expected input batch_size ({len_a}) to match target batch_size ({len_b}).",
            ),
        },
        {
            "symptoms": (
                "Inspecting a batch shows labels misaligned with input_ids by several tokens since the "
                "packing "
                "change.",
                "Decoding a batch shows responses paired with the wrong prompts; the two lists were sorted "
                "differently before zipping.",
                "Most samples end up with every label set to -100 after the chat-template change, so almost "
                "no "
                "tokens contribute to the loss.",
            ),
            "logs": (
                "sample {row}: input_ids[:8]={ids_a} labels[:8]={ids_b}",
                "num_tokens_in_loss=0 for {bad_rows} of the last 1000 samples",
            ),
        },
        {
            "symptoms": (
                "attention_mask is all zeros for a large share of samples after the new preprocessing "
                "script; "
                "those batches are pure padding.",
                "About a third of the samples are empty strings after preprocessing.",
                "The loader yields empty batches after epoch {epoch}, and many samples have no tokens at "
                "all.",
            ),
            "logs": (
                "WARNING: batch {every} contains 0 non-padding tokens",
                "skipped {bad_rows} empty examples in shard {shard}",
            ),
        },
        {
            "symptoms": (
                "The data was tokenized with a different tokenizer than the model's, so some token ids are "
                "above "
                "the vocab size and the embedding lookup asserts.",
                "The pre-tokenized shards came from another model's tokenizer; ids go past the embedding "
                "table.",
            ),
            "logs": (
                "../aten/src/ATen/native/cuda/Indexing.cu: block: [{blk},0,0], thread: [{thr},0,0] Assertion "
                "`srcIndex < srcSelectDimSize` failed.",
                "IndexError: index out of range in self",
            ),
        },
        {
            "symptoms": (
                "A dataloader worker dies on a corrupt image in the training folder.",
                "A few JPEGs in the new shard are truncated and the loader can't open them.",
            ),
            "logs": ("PIL.UnidentifiedImageError: cannot identify image file '/data/train/{img_id}.jpg'",),
        },
        {
            "symptoms": (
                "The image list and the label file are sorted differently, so images get the wrong labels "
                "and "
                "accuracy stays at chance.",
                "Half of the images in the new shard are blank (all zeros) after the resize step.",
            ),
            "logs": (
                "epoch {epoch} | train acc {chance}% | val acc {chance}% (10-class image set)",
                "data check: {bad_rows} of 5000 images have label != manifest label",
                "mean pixel value 0.000 in {bad_rows} images from shard {shard}",
            ),
        },
        {
            "symptoms": (
                "A few audio files in the manifest are zero length and the feature extractor raises on the "
                "empty "
                "array.",
                "Transcripts are misaligned with the audio clips after the manifest merge; the model is "
                "trained "
                "on the wrong text.",
            ),
            "logs": (
                "ValueError: audio array is empty for {img_id}.wav",
                "data check: {bad_rows} of 5000 audio clips have a transcript from another clip",
            ),
        },
    ),
    "checkpointing": (
        {
            "tried": (
                "We freed some disk space and retried; the same error at the next save.",
                "Saving to local disk instead of the shared filesystem works.",
                "We can reproduce it by calling save_model() in a notebook.",
            ),
            "symptoms": (
                "Saving the checkpoint at step {step} fails with 'No space left on device'.",
                "Checkpoint saving fails at step {step}: the disk quota for the project is exhausted.",
                "The scratch volume fills up halfway through writing the checkpoint and the save fails.",
            ),
            "logs": (
                "OSError: [Errno 28] No space left on device",
                "Saving model checkpoint to {ckpt_dir}\nOSError: [Errno 122] Disk quota exceeded",
                "RuntimeError: [enforce fail at inline_container.cc:603] . unexpected pos {pos} vs {row}",
            ),
        },
        {
            "tried": (
                "Resuming from the checkpoint before that one works.",
                "Tried safe_serialization=False; still fails.",
            ),
            "symptoms": (
                "The checkpoint files written at step {step} are truncated and won't load.",
                "The save at the end of epoch {epoch} writes a 0-byte model file.",
                "Loading the consolidated checkpoint fails because the zip archive is corrupt.",
                "The save completes but the file is broken, so it can't be read back.",
                "The node was preempted during a save; the newest checkpoint is half-written and resuming "
                "crashes on it.",
                "The last checkpoint copied to the bucket is smaller than the others and won't load.",
            ),
            "logs": (
                "RuntimeError: PytorchStreamReader failed reading zip archive: failed finding central "
                "directory",
                "safetensors_rust.SafetensorError: Error while deserializing header: "
                "MetadataIncompleteBuffer",
                "OSError: Unable to load weights from pytorch checkpoint file for '{ckpt_dir}'. If you tried "
                "to load a PyTorch model from a TF 2.0 checkpoint, please set from_tf=True.",
                "EOFError: Ran out of input",
            ),
        },
        {
            "tried": (
                "Loading with strict=False 'works' but then the weights are random.",
                "The checkpoint file itself is complete; it's the keys that don't match.",
            ),
            "symptoms": (
                "Resuming fails: the state dict has unexpected keys with an '_orig_mod.' prefix from "
                "torch.compile.",
                "Loading the checkpoint to resume fails with a size mismatch for lm_head.weight.",
                "The checkpoint from step {step_prev} loads with missing keys, so resuming fails.",
                "We saved the wrapped model instead of the inner one and now the keys have a 'module.' "
                "prefix "
                "that load_state_dict rejects.",
                "The LoRA checkpoint was saved without the adapter config and loading it for resume fails on "
                "the key names.",
            ),
            "logs": (
                "RuntimeError: Error(s) in loading state_dict: Missing key(s) in state_dict",
                "RuntimeError: Error(s) in loading state_dict for LlamaForCausalLM:\n\tsize mismatch for "
                "lm_head.weight: copying a param with shape torch.Size([{vocab_a}, {hidden}]) from "
                "checkpoint, "
                "the shape in current model is torch.Size([{vocab_b}, {hidden}]).",
                'Unexpected key(s) in state_dict: "_orig_mod.model.embed_tokens.weight", '
                '"_orig_mod.model.layers.0.self_attn.q_proj.weight", ...',
                'RuntimeError: Error(s) in loading state_dict: Missing key(s): "encoder.weight", ... '
                'Unexpected key(s): "module.encoder.weight", ...',
            ),
        },
        {
            "tried": (
                "Resuming from the checkpoint before that one works.",
                "Listing the checkpoint directory confirms files are missing.",
            ),
            "symptoms": (
                "The optimizer state never got written to the checkpoint directory, so resuming errors out.",
                "trainer_state.json is missing from the checkpoint folder and resume_from_checkpoint errors.",
                "The sharded checkpoint has only {shards_have} of {shards_total} shard files and loading "
                "fails "
                "on the missing one.",
                "DeepSpeed can't find the 'latest' tag when we try to resume.",
                "resume_from_checkpoint points at a folder the save never finished creating.",
            ),
            "logs": (
                "ValueError: Can't find a valid checkpoint at {ckpt_dir}",
                "FileNotFoundError: [Errno 2] No such file or directory: '{ckpt_dir}/latest'",
                "FileNotFoundError: [Errno 2] No such file or directory: "
                "'{ckpt_dir}/model-0000{shards_have}-of-0000{shards_total}.safetensors'",
                "FileNotFoundError: [Errno 2] No such file or directory: '{ckpt_dir}/optimizer.pt'",
            ),
        },
        {
            "tried": (
                "Saving to local disk instead of the shared filesystem works.",
                "We can reproduce it by calling save_model() in a notebook.",
            ),
            "symptoms": (
                "Every save crashes the job with a PermissionError on the output directory.",
                "The checkpoint dir is on a read-only mount in the new cluster, so the first save fails.",
                "The output directory belongs to another user, and writing the checkpoint is denied.",
            ),
            "logs": (
                "PermissionError: [Errno 13] Permission denied: '{ckpt_dir}/optimizer.pt'",
                "OSError: [Errno 30] Read-only file system: '{ckpt_dir}'",
            ),
        },
        {
            "tried": ("Saving to local disk first and copying afterwards works.",),
            "symptoms": (
                "The first save fails with AccessDenied writing to the S3 bucket; training was fine until "
                "then.",
                "Checkpoint uploads to object storage are rejected since the credentials were rotated.",
            ),
            "logs": (
                "botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the "
                "PutObject "
                "operation: Access Denied",
            ),
        },
        {
            "tried": ("Tried safe_serialization=False as a workaround; we'd rather fix it properly.",),
            "symptoms": (
                "safetensors refuses to save because some tensors share memory.",
                "With tied embeddings the save step fails every time it tries to write the weights.",
            ),
            "logs": (
                "RuntimeError: Some tensors share memory, this will lead to duplicate memory on disk and "
                "potential differences when loading them again",
            ),
        },
    ),
    "distributed_hang": (
        {
            "symptoms": (
                "All {gpus} ranks hang at the first all-reduce and nothing is logged after that.",
                "The job stalls at step {step}: no progress, no log lines, and after 30 minutes the NCCL "
                "watchdog kills it.",
                "After the eval that runs only on rank 0, the next all-reduce never completes.",
                "Every few hours the job freezes with every rank stuck in a collective; py-spy shows them "
                "all "
                "in all_reduce.",
                "One rank skips a batch after a filter and the others block in the next all-reduce forever.",
                "The process stays alive but logs nothing for hours; py-spy dump shows all ranks waiting in "
                "ProcessGroupNCCL.",
                "GPU utilization sits at 100% on every rank with no step progress until the collective times "
                "out.",
                "The job hangs at the gradient all-reduce on step {step}; rank {rank} is one step behind the "
                "others.",
                "Rank {rank} gets a shorter data shard, finishes the epoch early, and the rest wait in the "
                "all-reduce until the timeout.",
                "Only rank 0 logs metrics, and it does an extra all_gather there; all ranks freeze at that "
                "point.",
            ),
            "logs": (
                "[Rank {rank}] Watchdog caught collective operation timeout: WorkNCCL(SeqNum={seq}, "
                "OpType=ALLREDUCE, NumelIn={numel}, NumelOut={numel}, Timeout(ms)=1800000) ran for "
                "{timeout_ms} milliseconds before timing out.",
                "[E ProcessGroupNCCL.cpp:475] Some NCCL operations have failed or timed out. Due to the "
                "asynchronous nature of CUDA kernels, subsequent GPU operations might run on "
                "corrupted/incomplete data.",
                "[rank{rank}]:[E ProcessGroupNCCL.cpp:1316] [PG 0 Rank {rank}] Timeout at NCCL work: {seq}, "
                "last enqueued NCCL work: {seq}, last completed NCCL work: {seq_prev}.",
                "step {step} | loss {loss}\n(no output for 30 minutes)\n[Rank {rank}] Watchdog caught "
                "collective operation timeout: WorkNCCL(SeqNum={seq}, OpType=ALLREDUCE)",
            ),
        },
        {
            "symptoms": (
                "Rank {rank} never reaches the barrier; the other ranks wait until the timeout.",
                "The job never gets past init_process_group; ranks wait for each other until the timeout.",
                "Startup hangs at the store-based barrier: only {workers_seen} of {gpus} workers ever check "
                "in.",
            ),
            "logs": (
                "RuntimeError: Timed out initializing process group in store based barrier on rank: {rank}, "
                "for key: store_based_barrier_key:1 (world_size={gpus}, worker_count={workers_seen}, "
                "timeout=0:30:00)",
                "torch.distributed.DistBackendError: [{rank}] is setting up NCCL communicator and retrieving "
                "ncclUniqueId from [0] via c10d key-value store by key '0', but store->get('0') got error: "
                "Socket Timeout",
            ),
        },
        {
            "tried": (
                "Each node runs fine on its own.",
                "Setting NCCL_IB_DISABLE=1 didn't help either.",
                "Setting NCCL_SOCKET_IFNAME to the right interface is what we'll try next.",
            ),
            "symptoms": (
                "Training hangs in init_process_group on the second node.",
                "Only multi-node runs hang; one node with {gpus_per_node} GPUs trains fine.",
                "NCCL times out on the first broadcast between nodes, while runs inside one node are fine.",
                "It hangs right after NCCL init on InfiniBand; the workers on node {node} never join.",
                "Rendezvous times out because the workers on node {node} never show up.",
                "Ranks on different nodes lose each other mid-run and every rank blocks in the all-reduce "
                "until "
                "the timeout.",
            ),
            "logs": (
                "NCCL WARN NET/Socket : Connection closed by remote peer",
                "NCCL WARN Timeout waiting for connect from peer {peer}",
                "misc/socket.cc:50 NCCL WARN socketProgress: Connection reset by peer",
                "torch.distributed.elastic.rendezvous.api.RendezvousTimeoutError",
                "NCCL INFO NET/IB : Using [0]mlx5_0:1/IB ; OOB ib0:10.0.{node}.2<0>\n"
                "(nothing after this for 30 minutes)",
                "NCCL WARN NET/IB : Got completion from peer 10.0.{node}.7<{port}> with error 12, opcode "
                "{opcode}, len 0, vendor err 129",
            ),
        },
    ),
    "slow_throughput": (
        {
            "symptoms": (
                "Each step takes {sec} seconds now where it used to take a fraction of that.",
                "We get {tput} {unit}, about a {factor_word} of what the same config did last month.",
                "An epoch now takes {hours} hours instead of {hours_exp}.",
                "Since we turned on CPU offload and activation checkpointing (the model fits fine without "
                "them), steps are several times slower.",
                "The profiler shows most of each step in cudaStreamSynchronize from a .item() call on every "
                "step.",
                "The run silently falls back to the slow attention path and step time tripled.",
                "MFU is {mfu}% where we expected around 40%.",
                "The progress bar ETA says {days} days for a run that should take about {hours_exp} hours.",
                "The job finishes, but it's {factor}x slower than the identical run on the old cluster.",
                "Someone left anomaly detection on and every step is {factor}x slower; the run works "
                "otherwise.",
                "A config change disabled the tensor-core matmul path; step time went up {factor}x and the "
                "run "
                "otherwise works.",
            ),
            "logs": (
                "throughput: {tput} {unit} (expected ~{tput_exp})",
                "{tqdm}",
                "step {step} | step_time {sec}s | {unit} {tput} | mfu {mfu}%",
                "{{'train_runtime': {runtime}, 'train_samples_per_second': {sps}, 'train_steps_per_second': "
                "{stps}}}",
                "step {step_prev}: {sec_exp}s/step\nstep {step}: {sec}s/step",
            ),
        },
        {
            "symptoms": (
                "torch.compile recompiles every few steps because batch shapes vary, and steps crawl.",
                "With dynamic sequence lengths, torch.compile keeps recompiling and the run is {factor}x "
                "slower than eager.",
            ),
            "logs": (
                "torch._dynamo hit config.cache_size_limit (8)\n   function: 'forward' (model.py:{line})",
                "W torch/_dynamo/convert_frame.py Recompiling function forward in model.py:{line}",
                "{tqdm}",
            ),
        },
        {
            "symptoms": (
                "Step time goes from {sec_exp}s to {sec}s after the first hour; the GPUs are thermal "
                "throttling "
                "at {temp}C.",
                "After the driver update, GPU clocks are stuck at a low power state and steps are {factor}x "
                "slower.",
                "One GPU in the box runs at a fraction of its clock speed and everything waits on it.",
            ),
            "logs": (
                "clocks_throttle_reasons.hw_thermal_slowdown : Active  (GPU {dev}, {temp}C)",
                "step {step_prev}: {sec_exp}s/step\nstep {step}: {sec}s/step",
                "nvidia-smi: GPU {dev} SM clock 345 MHz (max 1980 MHz)",
            ),
        },
        {
            "symptoms": (
                "Scaling is poor: {gpus} GPUs are barely faster than half as many.",
                "Inter-node all-reduce takes most of each step over plain Ethernet; the job works, just "
                "slowly.",
                "Adding the second node made each step slower, not faster.",
            ),
            "logs": (
                "step {step} | step_time {sec}s | comm {comm_pct}% | {unit} {tput}",
                "throughput: {tput} {unit} (expected ~{tput_exp})",
            ),
        },
        {
            "no_rule_out": ("data_pipeline",),
            "symptoms": (
                "GPU utilization hovers around {util}% and the GPUs mostly wait for the next batch.",
                "The dataloader is the bottleneck: one CPU core pegged at 100% while the GPUs sit at "
                "{util}%.",
                "Data is read from a network filesystem and every step waits on I/O; the run completes but "
                "takes "
                "{factor}x longer.",
                "Tokenization happens on the fly in the main process and the GPUs idle most of the time.",
                "JPEG decoding on only {nw_low} CPU workers can't keep up; the GPUs are idle most of each "
                "step.",
            ),
            "logs": (
                "GPU util: {util}% | dataloader wait: {wait}% of step time",
                "throughput: {tput} {unit} (expected ~{tput_exp})",
                "data_time {data_time}s | compute_time {compute_time}s | step {step}",
                "{tqdm}",
            ),
        },
    ),
    "dependency_error": (
        {
            "tried": (
                "Pinning transformers back to the old version makes it start again.",
                "pip check lists a conflict but we're not sure which side to pin.",
            ),
            "symptoms": (
                "The job fails at startup with an ImportError since we bumped transformers.",
                "After the library upgrade the training script can't even import the model class.",
                "Since the requirements refresh, the script dies on its imports before training starts.",
            ),
            "logs": (
                "ImportError: cannot import name 'LlamaFlashAttention2' from 'transformers.models.llama'",
                "ImportError: cannot import name 'is_torch_xla_available' from 'transformers'",
                "ImportError: cannot import name 'top_k_top_p_filtering' from 'transformers'",
            ),
        },
        {
            "tried": ("Reinstalling flash-attn with --no-build-isolation didn't help.",),
            "symptoms": (
                "On the new image the job dies at import with ModuleNotFoundError for flash_attn.",
                "flash-attn was built against a different torch version; the import fails with an undefined "
                "symbol.",
                "We upgraded torch and now the flash-attn extension won't load at startup.",
            ),
            "logs": (
                "ModuleNotFoundError: No module named 'flash_attn'",
                "ImportError: /usr/local/lib/python3.10/site-packages/flash_attn_2_cuda.cpython-310-x86_64-"
                "linux-gnu.so: undefined symbol: _ZN3c104cuda9SetDeviceEi",
            ),
        },
        {
            "symptoms": (
                "After pip pulled in numpy 2.x, importing a compiled extension fails right at startup.",
                "A fresh install picked up numpy 2 and the job crashes while importing its dependencies.",
            ),
            "logs": (
                "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.0 as it may crash.",
                "AttributeError: _ARRAY_API not found",
            ),
        },
        {
            "symptoms": (
                "The Trainer refuses to start because the installed accelerate is too old for the new "
                "transformers.",
                "pip resolved tokenizers to a version transformers doesn't accept, so the import fails.",
                "A protobuf upgrade makes the tokenizer import fail when the script starts.",
                "Since the requirements refresh, `import peft` fails before training starts.",
            ),
            "logs": (
                "ImportError: Using the `Trainer` with `PyTorch` requires `accelerate>=0.26.0`: Please run "
                "`pip install transformers[torch]` or `pip install accelerate -U`",
                "ImportError: tokenizers>=0.19,<0.20 is required for a normal functioning of this module, "
                "but "
                "found tokenizers==0.15.2.",
                "TypeError: Descriptors cannot be created directly. If this call came from a _pb2.py file, "
                "your generated code is out of date and must be regenerated with protoc >= 3.19.0.",
                "ModuleNotFoundError: No module named 'peft'",
            ),
        },
        {
            "symptoms": (
                "The compiled extension needs a newer glibc than the cluster image has; the import fails "
                "before "
                "anything runs.",
                "Our custom CUDA op was built on a newer OS than the nodes and won't load at startup.",
            ),
            "logs": ("ImportError: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.32' not found",),
        },
        {
            "symptoms": (
                "DeepSpeed fails to build its fused Adam op at launch because nvcc and torch disagree on the "
                "CUDA version.",
                "bitsandbytes can't find its CUDA library at startup, so loading in 4-bit fails immediately.",
            ),
            "logs": (
                "RuntimeError: Error building extension 'fused_adam'",
                "The installed version of bitsandbytes was compiled without GPU support.",
                "RuntimeError: The detected CUDA version ({cuda_new}) mismatches the version that was used "
                "to "
                "compile PyTorch (11.8). Please make sure to use the same CUDA versions.",
            ),
        },
        {
            "symptoms": (
                "The container starts and dies before the first step: the CUDA driver is too old for the "
                "PyTorch build.",
                "The new image ships CUDA {cuda_new} but the nodes have driver {driver}, so nothing starts.",
                "Moving to torch {torch_new} broke startup: the driver on the nodes is older than the CUDA "
                "runtime it bundles.",
            ),
            "logs": (
                "RuntimeError: The NVIDIA driver on your system is too old (found version {driver_short}). "
                "Please update your GPU driver by downloading and installing a new version from the URL: "
                "http://www.nvidia.com/Download/index.aspx",
                "RuntimeError: CUDA driver version is insufficient for CUDA runtime version",
                "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found "
                "version "
                "{driver_short}).",
            ),
        },
        {
            "symptoms": (
                "Since the base image update, torch.cuda.is_available() is False and the script aborts.",
                "The new image installed the CPU-only torch wheel, so the job exits at startup.",
            ),
            "logs": (
                "AssertionError: Torch not compiled with CUDA enabled",
                "RuntimeError: No CUDA GPUs are available",
            ),
        },
        {
            "symptoms": (
                "libcudart can't be found when torch imports on the new nodes.",
                "The image's extension expects CUDA 11 runtime libraries that aren't installed, so the "
                "import "
                "fails at startup.",
            ),
            "logs": (
                "OSError: libcudart.so.11.0: cannot open shared object file: No such file or directory",
            ),
        },
        {
            "symptoms": (
                "The first CUDA call fails with 'no kernel image is available' after we moved the image to "
                "the "
                "new GPUs; the wheel wasn't built for that architecture.",
                "Our pinned torch build doesn't support the compute capability of the new cards and the job "
                "fails on startup.",
            ),
            "logs": (
                "RuntimeError: CUDA error: no kernel image is available for execution on the device",
                "UserWarning: NVIDIA H100 80GB HBM3 with CUDA capability sm_90 is not compatible with the "
                "current PyTorch installation.",
            ),
        },
    ),
}

# ---------------------------------------------------------------------------------------------------
# What was tried: generic steps (they rule nothing in or out) and cause-specific ones; scenarios add
# their own under "tried".
# ---------------------------------------------------------------------------------------------------

TRIED_GENERIC = (
    "We added more logging but it didn't tell us much.",
    "Tried a fresh node, same result.",
    "Nothing changed in the config since last week.",
    "Restarting the job gives the same thing.",
    "Reproduced it twice.",
    "Rebooting the node didn't help.",
    "Same thing with a different seed.",
    "It happens on the staging cluster too.",
    "We re-ran from a clean checkout of the repo; no difference.",
    "Tried with a smaller model first and it's the same story.",
    "A teammate reproduced it on their own allocation.",
    "We rolled back our last code change and it still happens.",
)

TRIED_SPECIFIC: dict[str, tuple[str, ...]] = {
    "out_of_memory": (
        "Mixed precision was already on.",
        "Profiling memory is the next step; we haven't done it yet.",
    ),
    "loss_divergence": (
        "Lowering the LR by half only delays the blow-up.",
        "Gradient clipping at 1.0 is on and it still diverges.",
        "Switching from fp16 to bf16 made it happen later, not never.",
        "A longer warmup didn't help.",
        "We checked the batches around the spike and they look like normal data.",
        "Restarting from the step {step_prev} checkpoint with the same settings diverges again.",
        "Turning on anomaly detection points at the attention softmax.",
        "Skipping the batches around the spike doesn't stop it; it diverges a bit later anyway.",
    ),
    "overfitting": (
        "More epochs only made eval worse.",
        "We doubled the LoRA rank and it got worse on eval, better on train.",
        "Early stopping would have picked epoch {best_epoch}.",
        "We checked for train/eval leakage and found none; the eval set is disjoint.",
        "Lowering the LR just made the same pattern slower.",
        "Adding more dropout helped a little, but eval still turns around after a few epochs.",
        "The eval set is the usual one; nothing changed there.",
    ),
    "data_pipeline": (
        "Re-downloading the dataset didn't help.",
        "We printed a few decoded batches to check.",
        "Running the preprocessing script again produced the same files.",
        "The previous version of the dataset trains fine.",
        "Loading the dataset in a notebook shows the same problem without any training.",
    ),
    "checkpointing": (
        "Older checkpoints from last week load fine.",
        "Training itself runs fine.",
        "It's the same every time we hit a save or a resume.",
    ),
    "distributed_hang": (
        "NCCL_DEBUG=INFO shows nothing after the last collective.",
        "Setting NCCL_P2P_DISABLE=1 didn't change anything.",
        "Raising the NCCL timeout only makes it wait longer.",
        "py-spy dump on every rank shows them waiting inside the collective.",
        "A tiny all-reduce test script across the same ranks shows the same hang.",
        "Single-GPU runs of the same config train fine.",
    ),
    "slow_throughput": (
        "Raising num_workers helped a bit but not much.",
        "We profiled one step with torch.profiler.",
        "A smaller batch is proportionally just as slow.",
        "Same code on the old cluster is fast.",
        "Turning off torch.compile made no real difference.",
        "Pinning memory in the dataloader didn't change the step time.",
        "Loss curves match the fast run step for step; it's only the wall clock.",
        "Nothing crashes; it just takes forever.",
    ),
    "dependency_error": (
        "We rebuilt the image from scratch; same error.",
        "Pinning every package back to last month's versions makes it start again.",
        "The old image still works on the same nodes.",
        "Running just the imports in a python shell on the node shows the same error.",
        "A fresh virtualenv with the lock file from last month works.",
        "It fails before the first log line of our own code.",
    ),
}

# ---------------------------------------------------------------------------------------------------
# Observations that rule a cause out. A report uses those of other causes than its own label;
# dependency errors (which stop the job at startup) use STARTUP_RULE_OUTS instead.
# ---------------------------------------------------------------------------------------------------

RULE_OUTS: dict[str, tuple[str, ...]] = {
    "out_of_memory": (
        "No OOM anywhere in the logs.",
        "Memory is flat at about {pct}% the whole time.",
        "GPU memory sits at {used_gib} of {gib} GB, nowhere near the limit.",
        "Memory is well under the limit.",
        "nvidia-smi shows plenty of free memory on every GPU.",
        "Host RAM is fine too, about {host_pct}% used.",
        "It's not memory: peak allocated stays well below the card's capacity.",
        "torch.cuda.max_memory_allocated() is only about {used_gib} GB.",
    ),
    "loss_divergence": (
        "Loss looks fine, no NaNs.",
        "The loss curve is smooth and grad norm stays around {gn_lo}.",
        "No inf or NaN anywhere in the metrics.",
        "Loss was decreasing normally.",
        "Gradient norms look healthy.",
        "Train loss is still going down smoothly.",
        "There are no loss spikes.",
    ),
    "overfitting": (
        "Eval loss tracks train loss closely.",
        "Held-out loss follows the training loss.",
        "There's no gap between train and eval metrics.",
        "Validation loss was still improving at the last eval.",
        "Eval numbers are in line with the previous run.",
    ),
    "data_pipeline": (
        "Data loading looks fine.",
        "We spot-checked decoded batches and the data is clean.",
        "The dataset passed our validation script.",
        "No dataloader errors at all.",
        "The same data trained fine in the previous run.",
        "Decoded samples look right; inputs and labels line up.",
    ),
    "checkpointing": (
        "Checkpoints save and load without problems.",
        "The last checkpoint loads fine in a notebook.",
        "Saving works; we have checkpoints up to step {step_prev}.",
        "Checkpoints are saved and restored fine.",
        "Resuming from the last checkpoint works.",
        "Checkpoint writes finish in a few seconds without errors.",
    ),
    "distributed_hang": (
        "All ranks stay in sync.",
        "No NCCL warnings or timeouts.",
        "Every rank reports the same step count.",
        "No rank is stuck; collectives complete normally.",
        "The all-reduce times look normal on every rank.",
        "Nothing hangs; every rank keeps logging until the end.",
    ),
    "slow_throughput": (
        "Speed is normal.",
        "Throughput is where it should be, about {tput_exp} {unit}.",
        "Step times look normal.",
        "GPU utilization is high, around {util_hi}%.",
        "Step time matches what we measured in the benchmark.",
        "Speed has been normal throughout.",
    ),
    "dependency_error": (
        "The environment is pinned and unchanged since the last good run.",
        "Same container image as the run that worked last week.",
        "Driver and CUDA versions are the ones we've always used.",
        "Imports and CUDA init are fine.",
        "The job starts normally and trains for a while first.",
        "No import or version errors at startup.",
    ),
}

STARTUP_RULE_OUTS: dict[str, tuple[str, ...]] = {
    "out_of_memory": (
        "No OOM anywhere in the logs.",
        "Memory isn't the issue; it never gets that far.",
    ),
    "data_pipeline": (
        "Data loading looks fine.",
        "The data is the same as in the last good run.",
    ),
    "checkpointing": (
        "Checkpoints save and load without problems.",
        "The checkpoint we start from loads fine with the old image.",
    ),
    "distributed_hang": (
        "It isn't a hang: it exits within seconds.",
        "Nothing hangs; the error comes right away.",
    ),
    "other": (
        "Disk space and permissions are fine.",
        "The config is unchanged from the last successful run.",
    ),
}

# Causes whose rule-outs would read as a contradiction in a report of the given label.
RULE_OUT_EXCLUDED: dict[str, tuple[str, ...]] = {
    "loss_divergence": ("overfitting",),
    "overfitting": ("loss_divergence",),
    "data_pipeline": ("loss_divergence", "overfitting"),
    "distributed_hang": ("slow_throughput",),
}

# ---------------------------------------------------------------------------------------------------
# Framing: headers, setup phrasings, log headers, closing lines.
# ---------------------------------------------------------------------------------------------------

HEADERS = (
    "",
    "",
    "",
    "Incident report",
    "Incident report",
    "Ticket: training job issue",
    "Pasted from the #ml-infra channel:",
    "Pasted from the #ml-infra channel:",
    "On-call note:",
    "Incident #{incident}: {run_name}",
    "Subject: {run_name} broken",
    "Subject: need help with a failing training job",
    "From the on-call handoff:",
    "Forwarded from Slack:",
    "Bug report ({run_name})",
    "Re: last night's run",
)

SETUP_TEMPLATES = (
    "Setup: {size} {base_word}, {hw}, {precision}, {framework}.",
    "Setup: {model_desc}, {hw}, {precision}, {framework}.",
    "We're {method_verb} a {size} model{method_suffix} on {hw}.",
    "We're {method_verb} {model_ref}{method_suffix} on {hw} with {framework} in {precision}.",
    "Model: {size}; hardware: {hw}; launcher: {launcher}.",
    "Model: {model_desc}; hardware: {hw}; precision: {precision}; framework: {framework}.",
    "{method_cap} of a {size} model on {hw}.",
    "Context: {model_desc}, {method}, {framework} on {hw}, {precision}.",
    "Run {run_name}: {model_desc}, {precision}, {framework}, {hw}.",
    "This is our {size} {method} on {hw} using {framework} in {precision}.",
    "{hw}, {framework}, {precision}. The model is {model_ref}.",
    "Job: {method} of {model_ref}, launched with {launcher} on {hw}.",
)

SETUP_BLOCK = "model: {model_desc}\nhardware: {hw}\nprecision: {precision}\nframework: {framework}"

LOG_HEADERS = (
    "Log:",
    "Log:",
    "Last lines of the log:",
    "Last lines of the log:",
    "Relevant output:",
    "From the rank 0 log:",
    "stderr:",
    "Error:",
    "Here's the tail of the log:",
    "What the job printed:",
)

CLOSERS = (
    "Any ideas?",
    "What should we look at?",
    "Thanks!",
    "Happy to share more logs.",
    "Can someone take a look?",
    "Not sure where to start.",
    "Help appreciated.",
)

# Outermost first; a traceback keeps their order.
TRACEBACK_FRAMES = (
    '  File "train.py", line {line}, in <module>',
    '  File "train.py", line {line}, in main',
    '  File "/opt/conda/lib/python3.10/site-packages/transformers/trainer.py", line {line}, in train',
    '  File "/workspace/src/trainer.py", line {line}, in train_step',
)

# Words that make a template need something from the setup; see `_fits`.
MULTI_GPU_MARKERS = ("rank", "{gpus}", "all-reduce", "collective", "world_size", "nccl", "every gpu")
MULTI_NODE_MARKERS = ("{node}", "{peer}", "multi-node", "second node", "between nodes", "inter-node", "NET/")
LM_MARKERS = (
    "token",
    "sequence",
    "vocab",
    "lm_head",
    "Llama",
    "DPO",
    "prompt",
    "chat-template",
    "perplexity",
    "attention",
    "flash",
    "packing",
    "'text'",
    "LoRA",
    "max length",
)
VISION_MARKERS = ("corrupt image", "images", "image file", "image list", "image set", "JPEG", "pixel")
SPEECH_MARKERS = ("audio", "Transcripts")
FP16_MARKERS = ("fp16", "loss scale", "scaler", "overflow")
# (marker, setup field, what that field must contain: one of these)
SETUP_MARKERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("deepspeed", "framework", ("DeepSpeed",)),
    ("signaling trainer", "framework", ("Lightning",)),
    ("h100", "hw", ("H100",)),
    ("lora", "method", ("LoRA",)),
    ("dpo", "method", ("DPO",)),
    ("full fine-tune", "method", ("full fine-tune",)),
    ("adamw states", "method", FULL_METHODS),
)

PLACEHOLDER = re.compile(r"\{(\w+)")


def _fits(text: str, ctx: dict[str, object]) -> bool:
    """Whether a template only mentions what the report's setup has (GPUs, nodes, model kind, ...)."""
    lowered = text.lower()
    if int(ctx["gpus"]) == 1 and any(marker.lower() in lowered for marker in MULTI_GPU_MARKERS):
        return False
    if int(ctx["nodes"]) == 1 and any(marker.lower() in lowered for marker in MULTI_NODE_MARKERS):
        return False
    if any(marker.lower() in lowered for marker in FP16_MARKERS) and "fp16" not in str(ctx["precision"]):
        return False
    for marker, field, needed in SETUP_MARKERS:
        if marker in lowered and not any(option in str(ctx[field]) for option in needed):
            return False
    kind = ctx["kind"]
    if kind != "lm" and any(marker.lower() in lowered for marker in LM_MARKERS):
        return False
    if kind != "vision" and any(marker.lower() in lowered for marker in VISION_MARKERS):
        return False
    return not (kind != "speech" and any(marker.lower() in lowered for marker in SPEECH_MARKERS))


def _pick(rng: random.Random, pool: tuple[str, ...], ctx: dict[str, object]) -> str | None:
    options = [text for text in pool if _fits(text, ctx)]
    return rng.choice(options) if options else None


def _fill(template: str, ctx: dict[str, object]) -> str:
    return template.format(**ctx)


def _hms(seconds: float) -> str:
    total = int(seconds)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


# ---------------------------------------------------------------------------------------------------
# Context: one consistent set of values per report.
# ---------------------------------------------------------------------------------------------------


def _plausible(billions: float, gib: int, gpus: int) -> bool:
    """Big clusters train models of 1B and up; models of 7B and up get room for their bf16 weights."""
    if gpus >= 16 and billions < 1:
        return False
    return not (billions >= 7 and gib * gpus < 2 * billions)


def _setup_context(rng: random.Random, label: str) -> dict[str, object]:
    hardware = [hw for hw in HARDWARE if hw[2] > 1] if label == "distributed_hang" else list(HARDWARE)
    if label == "distributed_hang" and rng.random() < 0.5:
        hardware = [hw for hw in hardware if hw[3] > 1]
    hw, gib, gpus, nodes = rng.choice(hardware)
    models = [model for model in MODELS if _plausible(model[3], gib, gpus)]
    size, model_desc, kind, _ = rng.choice(models)
    method, method_verb, method_suffix = rng.choice(METHODS)
    if kind != "lm":
        method, method_verb, method_suffix = "full fine-tune", "fine-tuning", ""
    frameworks = [
        name
        for name, multi in FRAMEWORKS
        if (gpus > 1 or not multi) and (kind == "lm" or name not in LM_ONLY_FRAMEWORKS)
    ]
    framework = rng.choice(frameworks)
    run_name = f"{rng.choice(RUN_PREFIXES[kind])}-{size.lower()}-{rng.choice(RUN_SUFFIXES)}"
    return {
        "hw": hw,
        "gib": gib,
        "gpus": gpus,
        "nodes": nodes,
        "gpus_per_node": gpus // nodes,
        "size": size,
        "model_desc": model_desc,
        "model_ref": f"a {model_desc}" if model_desc[0].isdigit() else model_desc,
        "kind": kind,
        "base_word": rng.choice(("base", "model", "checkpoint", "decoder")) if kind == "lm" else "model",
        "method": method,
        "method_verb": method_verb,
        "method_suffix": method_suffix,
        "method_cap": method[0].upper() + method[1:],
        "precision": rng.choice([p for p in PRECISIONS if "fp8" not in p or "H1" in hw or "H2" in hw]),
        "framework": framework,
        "launcher": rng.choice(LAUNCHERS),
        "run_name": run_name,
        "lora_r": rng.choice((8, 16, 32, 64, 128)),
        "unit": THROUGHPUT_UNITS[kind],
    }


def _number_context(rng: random.Random, ctx: dict[str, object]) -> dict[str, object]:
    gib = int(ctx["gib"])
    gpus = int(ctx["gpus"])
    nodes = int(ctx["nodes"])
    step = rng.randrange(200, 95_000)
    rank = rng.randrange(gpus)
    seq = rng.randrange(200, 90_000)
    epoch = rng.randrange(3, 16)
    best_epoch = rng.randrange(1, min(epoch, 5))
    best_val = rng.uniform(0.55, 1.6)
    tput_exp = rng.randrange(20, 600) * 100 if ctx["kind"] == "lm" else rng.randrange(8, 300) * 10
    factor = rng.choice((3, 4, 5, 6, 8, 10))
    sec_exp = rng.choice((0.4, 0.6, 0.8, 1.1, 1.5, 2.2, 3.0))
    sec = round(sec_exp * factor, 1)
    total_steps = rng.randrange(5, 60) * 1000
    done = rng.randrange(200, total_steps // 4)
    hours_exp = rng.choice((6, 8, 10, 12, 16, 20, 24, 36))
    vocab_a = rng.choice((32000, 32001, 50257, 128256, 151936))
    shards_total = rng.randrange(3, 10)
    shard = rng.randrange(1, 4096)
    spare = rng.randrange(1, 9)
    return {
        "step": step,
        "step2": step + rng.randrange(1, 40),
        "step3": step + rng.randrange(40, 90),
        "step_prev": max(0, step - rng.choice((500, 1000, 2000, 5000))),
        "rank": rank,
        "dev": rank % int(ctx["gpus_per_node"]),
        "peer": (rank + rng.randrange(1, max(2, gpus))) % gpus,
        "node": rng.randrange(1, max(2, nodes)),
        "cap": f"{gib * 0.9893:.2f}",
        "alloc": f"{rng.choice((0.5, 1, 1.5, 2, 3, 4, 6, 8, 12)):.2f}",
        "alloc_mib": f"{rng.randrange(20, 2048):.2f}",
        "alloc_used": f"{gib * rng.uniform(0.86, 0.96):.2f}",
        "reserved": f"{gib * rng.uniform(0.96, 0.985):.2f}",
        "free_mib": f"{rng.uniform(2, 600):.2f}",
        "frag_mib": f"{rng.uniform(100, 4000):.2f}",
        "near_full_gib": round(gib * rng.uniform(0.97, 0.995), 1),
        "used_gib": round(gib * rng.uniform(0.3, 0.65)),
        "leak_gib": rng.choice((0.2, 0.5, 1, 2)),
        "pct": rng.randrange(18, 66),
        "host_pct": rng.randrange(15, 55),
        "host_gib": rng.choice((64, 128, 256, 512, 1024)),
        "seq_lo": rng.choice((1024, 2048, 4096)),
        "seq_hi": rng.choice((8192, 16384, 32768)),
        "bs_lo": rng.choice((1, 2, 4)),
        "bs_hi": rng.choice((8, 16, 32)),
        "nw": rng.choice((8, 12, 16, 32)),
        "nw_low": rng.choice((1, 2)),
        "every": rng.randrange(20, 400),
        "pid": rng.randrange(1000, 4_000_000),
        "jobid": rng.randrange(100_000, 9_999_999),
        "vm_kb": rng.randrange(100_000_000, 900_000_000),
        "rss_kb": rng.randrange(60_000_000, 500_000_000),
        "uptime": f"{rng.uniform(1000, 900000):.6f}",
        "loss": f"{rng.uniform(1.2, 3.4):.2f}",
        "loss_hi": f"{rng.uniform(8, 9000):.1f}",
        "gn_lo": f"{rng.uniform(0.3, 2.0):.2f}",
        "gn_hi": f"{rng.uniform(1.1, 9.9):.1f}e+0{rng.randrange(3, 7)}",
        "lr": rng.choice(("1e-4", "2e-4", "3e-4", "5e-4", "6e-4", "1e-3", "2e-5", "5e-5")),
        "beta2": rng.choice(("0.99", "0.999", "0.9999")),
        "scale": (scale := rng.choice((65536, 32768, 16384, 8192, 1024))),
        "scale_half": scale // 2,
        "epoch_f": f"{rng.uniform(0.05, 3.0):.2f}",
        "epoch": epoch,
        "best_epoch": best_epoch,
        "best_val": f"{best_val:.3f}",
        "val_loss": f"{best_val + rng.uniform(0.3, 1.6):.3f}",
        "train_loss": f"{rng.uniform(0.005, 0.12):.3f}",
        "train_loss_early": f"{rng.uniform(0.4, 1.1):.3f}",
        "train_acc": rng.randrange(97, 100),
        "train_acc_early": rng.randrange(78, 92),
        "val_best": (val_best := rng.randrange(70, 92)),
        "val_now": val_best - rng.randrange(4, 15),
        "val_best_frac": f"{val_best / 100:.3f}",
        "train_reward": f"{rng.uniform(1.5, 6.0):.2f}",
        "comm_pct": rng.randrange(55, 85),
        "patience": (patience := rng.randrange(2, 6)),
        "patience_max": patience,
        "n_rows_small": rng.choice((300, 800, 1200, 2500, 4000)),
        "shard": shard,
        "pos": rng.randrange(0, 65536),
        "col": rng.randrange(1, 4000),
        "row": rng.randrange(10, 2_000_000),
        "worker": rng.randrange(0, 16),
        "img_id": f"{rng.randrange(0, 10**8):08d}",
        "bad_rows": rng.randrange(3, 900),
        "len_a": (len_a := rng.randrange(64, 4096)),
        "len_b": len_a + rng.randrange(1, 500),
        "entry": rng.randrange(1, 32),
        "blk": rng.randrange(0, 512),
        "thr": rng.randrange(0, 128),
        "ids_a": [rng.randrange(2, 32000) for _ in range(8)],
        "ids_b": [-100] * spare + [rng.randrange(2, 32000) for _ in range(8 - spare)],
        "chance": rng.randrange(9, 12),
        "vocab_a": vocab_a,
        "vocab_b": vocab_a + rng.choice((1, 8, 64, 256)),
        "hidden": rng.choice((2048, 3072, 4096, 5120, 8192)),
        "ckpt_dir": f"/checkpoints/{ctx['run_name']}/checkpoint-{step}",
        "shards_total": shards_total,
        "shards_have": rng.randrange(1, shards_total),
        "seq": seq,
        "seq_prev": seq - 1,
        "numel": rng.randrange(1, 300_000_000),
        "timeout_ms": rng.randrange(1_800_000, 1_800_900),
        "workers_seen": rng.randrange(1, max(2, gpus)),
        "port": rng.randrange(40000, 60000),
        "opcode": rng.randrange(0, 140),
        "tput_exp": tput_exp,
        "tput": tput_exp // factor,
        "factor": factor,
        "factor_word": {3: "third", 4: "quarter", 5: "fifth", 6: "sixth", 8: "eighth", 10: "tenth"}[factor],
        "sec": sec,
        "sec_exp": sec_exp,
        "util": rng.randrange(8, 45),
        "util_hi": rng.randrange(88, 100),
        "wait": rng.randrange(55, 92),
        "data_time": round(sec * rng.uniform(0.6, 0.9), 2),
        "compute_time": round(sec_exp * rng.uniform(0.8, 1.0), 2),
        "mfu": rng.randrange(4, 15),
        "temp": rng.randrange(87, 96),
        "hours": hours_exp * factor,
        "hours_exp": hours_exp,
        "days": max(2, hours_exp * factor // 24),
        "runtime": f"{rng.uniform(20_000, 400_000):.1f}",
        "sps": f"{rng.uniform(0.5, 6.0):.3f}",
        "stps": f"{rng.uniform(0.01, 0.2):.3f}",
        "tqdm": f"{100 * done // total_steps:3d}%| | {done}/{total_steps} "
        f"[{_hms(done * sec)}<{_hms((total_steps - done) * sec)}, {sec:.2f}s/it]",
        "line": rng.randrange(40, 3200),
        "driver": rng.choice(("470.82.01", "510.47.03", "515.65.01", "525.60.13")),
        "driver_short": rng.choice(("11040", "11060", "11070", "11080")),
        "cuda_new": rng.choice(("12.1", "12.4", "12.6", "12.8")),
        "torch_new": rng.choice(("2.4", "2.5", "2.6", "2.7")),
        "incident": rng.randrange(100, 9999),
    }


def _context(rng: random.Random, label: str) -> dict[str, object]:
    ctx = _setup_context(rng, label)
    ctx.update(_number_context(rng, ctx))
    return ctx


# ---------------------------------------------------------------------------------------------------
# Composing one report.
# ---------------------------------------------------------------------------------------------------


def _setup(rng: random.Random, ctx: dict[str, object]) -> str | None:
    roll = rng.random()
    if roll < 0.12:
        return None
    if roll < 0.2:
        return _fill(SETUP_BLOCK, ctx)
    template = rng.choice(SETUP_TEMPLATES)
    return _fill(_fill(template, ctx), ctx)  # method phrases hold {lora_r}


def _rule_outs(rng: random.Random, label: str, scenario: Scenario, ctx: dict[str, object]) -> list[str]:
    count = rng.choices((0, 1, 2, 3), weights=(2, 4, 4, 1))[0]
    if label == "dependency_error":
        groups = rng.sample(sorted(STARTUP_RULE_OUTS), count)
        return [_fill(rng.choice(STARTUP_RULE_OUTS[group]), ctx) for group in groups]
    excluded = {label, *RULE_OUT_EXCLUDED.get(label, ()), *scenario.get("no_rule_out", ())}
    causes = [cause for cause in LABELS if cause not in excluded]
    chosen: list[str] = []
    for cause in rng.sample(causes, count):
        text = _pick(rng, RULE_OUTS[cause], ctx)
        if text is not None:
            chosen.append(_fill(text, ctx))
    return chosen


def _tried(rng: random.Random, label: str, scenario: Scenario, ctx: dict[str, object]) -> list[str]:
    count = rng.choices((0, 1, 2), weights=(3, 5, 2))[0]
    pools = [TRIED_GENERIC, TRIED_SPECIFIC[label] + scenario.get("tried", ())]
    chosen: list[str] = []
    for _ in range(count):
        text = _pick(rng, rng.choice(pools), ctx)
        if text is not None and _fill(text, ctx) not in chosen:
            chosen.append(_fill(text, ctx))
    return chosen


def _log(rng: random.Random, scenario: Scenario, ctx: dict[str, object]) -> str | None:
    """A log excerpt from the scenario: a header, the lines, sometimes a traceback or a code fence."""
    text = _pick(rng, scenario["logs"], ctx)
    if text is None:
        return None
    body = _fill(text, ctx)
    first = body.split("\n", 1)[0]
    if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", first) and rng.random() < 0.3:
        picked = sorted(rng.sample(range(len(TRACEBACK_FRAMES)), rng.randrange(1, 3)))
        frames = [TRACEBACK_FRAMES[index] for index in picked]
        frame_lines = [_fill(frame, {"line": rng.randrange(30, 2500)}) for frame in frames]
        body = "\n".join(["Traceback (most recent call last):", *frame_lines, body])
    style = rng.random()
    if style < 0.12:
        body = f"```\n{body}\n```"
    elif style < 0.2:
        body = "\n".join(f"    {line}" for line in body.split("\n"))
    if "\n" not in body and style > 0.9:
        return f"The log ends with: {body.strip()}"
    return f"{rng.choice(LOG_HEADERS)}\n{body}"


def _body(rng: random.Random, setup: str | None, facts: list[str]) -> str:
    """Setup and facts as prose, one line per fact, or a bullet list."""
    layout = rng.choices(("prose", "lines", "bullets"), weights=(4, 4, 2))[0]
    lead = [setup] if setup else []
    if layout == "prose" and setup and "\n" not in setup and rng.random() < 0.6:
        return " ".join([setup, *facts])
    if layout == "prose":
        return "\n".join([*lead, " ".join(facts)])
    if layout == "lines":
        return "\n".join([*lead, *facts])
    return "\n".join([*lead, *(f"- {fact}" for fact in facts)])


def _report(rng: random.Random, label: str) -> str:
    ctx = _context(rng, label)
    # Scenarios weighted by how many of their symptoms fit the setup, so every symptom is about as likely.
    scenarios = list(SCENARIOS[label])
    weights = [sum(_fits(text, ctx) for text in scenario["symptoms"]) for scenario in scenarios]
    scenario = rng.choices(scenarios, weights=weights)[0]
    symptom = _fill(_pick(rng, scenario["symptoms"], ctx) or "", ctx)
    rule_outs = _rule_outs(rng, label, scenario, ctx)
    tried = _tried(rng, label, scenario, ctx)

    others = rule_outs + tried
    rng.shuffle(others)
    position = 0 if rng.random() < 0.65 else rng.randrange(0, len(others) + 1)
    facts = [*others[:position], symptom, *others[position:]]

    parts: list[str] = []
    header = _fill(rng.choice(HEADERS), ctx)
    if header:
        parts.append(header)
    log = _log(rng, scenario, ctx) if rng.random() < 0.8 else None
    if log and tried and rng.random() < 0.2:
        # Log in the middle: facts, then the log, then what was tried.
        before = [fact for fact in facts if fact not in tried]
        parts.append(_body(rng, _setup(rng, ctx), before))
        parts.append(log)
        parts.append(" ".join(tried))
    else:
        parts.append(_body(rng, _setup(rng, ctx), facts))
        if log:
            parts.append(log)
    if rng.random() < 0.25:
        parts.append(rng.choice(CLOSERS))
    return "\n".join(parts)


def _balanced_labels(rng: random.Random, count: int) -> list[str]:
    labels = list(LABELS) * (count // len(LABELS)) + rng.sample(LABELS, count % len(LABELS))
    rng.shuffle(labels)
    return labels


def task_examples(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(incident report, label) pairs, every label equally often (to within one), reports distinct."""
    examples: list[tuple[str, str]] = []
    seen: set[str] = set()
    for label in _balanced_labels(rng, count):
        report = _report(rng, label)
        for _ in range(20):
            if report not in seen:
                break
            report = _report(rng, label)
        seen.add(report)
        examples.append((report, label))
    return examples
