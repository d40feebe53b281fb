# Shared settings for the local-stack scripts (sourced, not run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
LOCAL="$ROOT/.local"
MINISTACK_PORT="${MINISTACK_PORT:-4566}"
ENDPOINT="http://localhost:${MINISTACK_PORT}"
STACK_NAME="${STACK_NAME:-zoom-symbl-local}"
# The same template with the aws provider (the default), beside the Symbl one.
AWS_STACK_NAME="${AWS_STACK_NAME:-$STACK_NAME-aws}"
# The Zoom sandbox's fixed port on the local stack: the deployed producer's OAuth and API
# URLs point at it.
SANDBOX_PORT="${SANDBOX_PORT:-8443}"
SANDBOX_CA_DIR="$LOCAL/sandbox-ca"
SYMBL_SANDBOX_PORT="${SYMBL_SANDBOX_PORT:-8444}"
# The LLM sandbox: ministack forwards Bedrock's Converse to it (OpenAI's chat completions).
LLM_SANDBOX_PORT="${LLM_SANDBOX_PORT:-8446}"
SMTP_PORT="${SMTP_PORT:-2525}"
MAIL_DIR="$LOCAL/mail"
mkdir -p "$LOCAL"

# Dummy credentials for the local stack only; never real ones.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

host_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x86_64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) echo "unsupported host architecture $(uname -m)" >&2; return 1 ;;
  esac
}
