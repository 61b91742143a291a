# Every target sets itself up: a fresh machine needs only Python (pyenv's 3.13 when present) and PyPI.
PYENV_313 := $(shell pyenv prefix 3.13.0 2>/dev/null)/bin/python3.13
PYTHON ?= $(if $(wildcard $(PYENV_313)),$(PYENV_313),python3)
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
RUN := $(VENV)/bin

# Template tooling lives in its own environments: the SAM CLI and checkov pin boto3, pydantic and others
# to versions that conflict with the function's. Each is installed from hash-pinned tooling/*.txt.
SAM_TOOLS := .tools/sam
CHECKOV_TOOLS := .tools/checkov
SAM := $(SAM_TOOLS)/bin/sam
# sam build runs python3.13 itself (its builder checks the runtime's version); pyenv's shims are not enough.
PYTHON_DIR := $(if $(findstring /,$(PYTHON)),$(abspath $(dir $(PYTHON))):,)
SAM_ENV := PATH="$(PYTHON_DIR)$$PATH" SAM_CLI_TELEMETRY=0
SAM_BUILD := $(SAM) build --cached --parallel
# The other architecture, built from a copy of template.yaml that differs in the architecture only.
X86_DIR := .aws-sam/x86_64

.PHONY: setup demo demo-org test browser check lint unit integration tools build build-x86_64 template-check pins generate bench preflight deploy package-org clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra cli --python $(PYTHON)
	touch $@

$(SAM_TOOLS)/.synced: tooling/sam-requirements.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(SAM_TOOLS)
	$(UV) pip sync --quiet --require-hashes --python $(SAM_TOOLS)/bin/python $<
	touch $@

$(CHECKOV_TOOLS)/.synced: tooling/checkov-requirements.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(CHECKOV_TOOLS)
	$(UV) pip sync --quiet --require-hashes --python $(CHECKOV_TOOLS)/bin/python $<
	touch $@

setup: $(VENV)/.synced

tools: $(SAM_TOOLS)/.synced $(CHECKOV_TOOLS)/.synced

demo: setup
	$(RUN)/python -m emulation.demo

# An Organization on the local emulation: the central stack (template.yaml with OrganizationId), three member
# accounts in two regions running the member template's archiver, fleet health, and the cross-account refusals.
demo-org: setup
	$(RUN)/python -m emulation.demo_org

lint: setup
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .
	$(RUN)/mypy

unit: setup
	$(RUN)/pytest tests/unit -q

integration: setup
	$(RUN)/pytest tests/integration -q

# The inner loop, in seconds: lint, types, the unit tier and the fakes tier (no server, no socket).
check: lint
	$(RUN)/pytest tests/unit tests/functional -q

# The deployable artefact: .aws-sam/build, for the architecture template.yaml names (arm64).
build: $(SAM_TOOLS)/.synced
	$(SAM_ENV) $(SAM_BUILD)

build-x86_64: $(SAM_TOOLS)/.synced
	mkdir -p $(X86_DIR)
	sed -e 's/\[arm64\]/[x86_64]/' -e 's/BuildArchitecture: arm64/BuildArchitecture: x86_64/' \
		template.yaml > $(X86_DIR)/template.yaml
	LAYER_TEMPLATE=$(abspath $(X86_DIR)/template.yaml) $(SAM_ENV) $(SAM_BUILD) \
		--template-file $(X86_DIR)/template.yaml --base-dir . \
		--build-dir $(X86_DIR)/build --cache-dir $(X86_DIR)/cache

# sam validate --lint, cfn-lint, checkov, the transformed template, both builds, the archive contract.
template-check: setup tools build build-x86_64
	CFN_HOOK_ARCHIVE_TEMPLATE_CHECKS=required $(RUN)/pytest tests/template -q

# Headless Chromium (Debian's package) opens the HTML report in tests/cli/test_report.py.
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

test: lint tools build build-x86_64 browser
	CFN_HOOK_ARCHIVE_TEMPLATE_CHECKS=required $(RUN)/pytest -q

# Re-pin after editing tooling/*.in or the project's dependencies (uv.lock).
pins: | $(UV)
	$(UV) pip compile --quiet --generate-hashes --python-version 3.13 \
		--python-platform x86_64-unknown-linux-gnu tooling/sam.in -o tooling/sam-requirements.txt
	$(UV) pip compile --quiet --generate-hashes --python-version 3.13 \
		--python-platform x86_64-unknown-linux-gnu tooling/checkov.in -o tooling/checkov-requirements.txt
	$(UV) export --locked --no-dev --no-default-groups --no-emit-project --format requirements-txt \
		-o layers/dependencies/requirements.txt --quiet

# Rewrite every file derived from a single source: the event JSON Schema, the template's inline copies
# (named-query SQL, registry schema, Glue columns) and the layer's requirements.txt. tests/template checks
# that it changes nothing.
generate: setup
	$(RUN)/python tooling/generate.py

# Read-only checks of the account, the deploy parameters and this machine, before `sam deploy`. Options go in
# ARGS, e.g. make preflight ARGS="--region eu-west-1 --parameter-overrides ReservedConcurrency=1".
# PATH as `make deploy` and `make build` see it: the pinned SAM CLI (make tools) and the Python 3.13 sam build runs.
preflight: setup
	PATH="$(PYTHON_DIR)$(abspath $(SAM_TOOLS))/bin:$$PATH" $(RUN)/cfn-hook-archive preflight $(ARGS)

# The member StackSet of an Organization: the plain-CloudFormation member template, generated from
# template.yaml, and the built function and layer zips, under .aws-sam/org/. With ARTIFACT_BUCKET_PREFIX
# (and AWS credentials of the account that hosts them) they are published to <prefix>-<region> for each of
# REGIONS, readable by the Organization: make package-org REGIONS="us-east-1 eu-west-1" ARTIFACT_BUCKET_PREFIX=...
ORG_DIR := .aws-sam/org
package-org: setup build
	mkdir -p $(ORG_DIR)
	$(SAM_TOOLS)/bin/python tooling/sam_transform.py template.yaml > $(ORG_DIR)/transformed.json
	$(RUN)/python -m tooling.package_org --transformed $(ORG_DIR)/transformed.json --out $(ORG_DIR) \
		--regions $(REGIONS) --artifact-bucket-prefix "$(ARTIFACT_BUCKET_PREFIX)"

deploy: build
	$(SAM_ENV) $(SAM) deploy --guided

bench: setup
	$(RUN)/python -m bench

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache demo-output
