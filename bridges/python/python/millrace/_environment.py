"""The environment variables through which the Node host describes a runner to this process.

Both sides cite these names: the TypeScript host sets them (``src/cpython/environment.ts``) and
:func:`millrace.context` reads them.
"""

JOB_NAME = "MILLRACE_JOB_NAME"
ROLE = "MILLRACE_ROLE"
INDEX = "MILLRACE_INDEX"
GENERATION = "MILLRACE_GENERATION"
ATTEMPT = "MILLRACE_ATTEMPT"
CLUSTER_SPEC = "MILLRACE_CLUSTER_SPEC"
CHECKPOINT_DIR = "MILLRACE_CHECKPOINT_DIR"
#: The input position this start resumes after (records ``1 … n`` of the node's stream are behind it).
RESUME_POSITION = "MILLRACE_RESUME_POSITION"
#: File descriptor of the control socket (JSON lines both ways); absent outside Millrace.
CONTROL_FD = "MILLRACE_CONTROL_FD"
HEARTBEAT_MS = "MILLRACE_HEARTBEAT_MS"
INPUT_RING = "MILLRACE_INPUT_RING"
INPUT_CODEC = "MILLRACE_INPUT_CODEC"
OUTPUT_RING = "MILLRACE_OUTPUT_RING"
OUTPUT_CODEC = "MILLRACE_OUTPUT_CODEC"
#: With ``transport: 'pipes'``: the inherited file descriptors records arrive on and leave by.
INPUT_FD = "MILLRACE_INPUT_FD"
OUTPUT_FD = "MILLRACE_OUTPUT_FD"
