"""Image builds with rootless BuildKit (Kaniko is archived): the serving image per model version, and the tools
image once from the repository. The shell is kept tiny, takes its values from env vars and passes shellcheck."""

from __future__ import annotations

from typing import Any

from cxops import names
from cxops.config.schema import Config
from cxops.pipeline.definition import Step
from cxops.workflows.tools import TOOLS_UID, base_env, retry_strategy, security_context

# The tools image's state dir (beside CXOPS_CONFIG=/home/cxops/cxops.yaml): `cxops step build` writes the image
# context to builds/<model>/<version>/context there and names it in its `path` output. Both containers mount the shared
# volume at this same path, so that path is valid in the builder too.
STATE_DIR = "/home/cxops/.cxops"
OUT_DIR = f"{STATE_DIR}/outputs"
BUILDKIT_UID = 1000  # the `user` of moby/buildkit:*-rootless
# The build pod's fsGroup: the shared volume is group-owned by it (setgid), and both containers' processes hold it as
# a supplementary group, so BuildKit (uid 1000) reads the context `prepare` (uid 10001) wrote and writes its own
# outputs beside prepare's (cxops writes both group-accessible).
BUILD_FS_GROUP = TOOLS_UID
DOCKER_CONFIG = "/home/user/.docker"

# Build and push the context the build step prepared; record the pushed digest. No secrets on the command line:
# registry credentials come from the mounted docker config. The push goes to the registry's in-cluster Service name
# ($PUSH_REGISTRY: the image's own host, serving.image_registry, resolves only on the nodes), over plain HTTP
# (registry.insecure: BuildKit would speak HTTPS to any host but localhost); the repository and digest are the ones
# the nodes pull by the image's name.
PUSH_SERVING = """set -eu
image="$(cat "$OUT_DIR/image")"
context="$(cat "$OUT_DIR/path")"
push="$PUSH_REGISTRY/${image#*/}"
buildctl-daemonless.sh build \\
  --frontend dockerfile.v0 \\
  --local context="$context" \\
  --local dockerfile="$context" \\
  --output "type=image,name=$push,push=true,registry.insecure=true" \\
  --metadata-file "$OUT_DIR/metadata.json"
digest="$(sed -n 's/.*"containerimage.digest": *"\\([^"]*\\)".*/\\1/p' "$OUT_DIR/metadata.json" | head -n 1)"
if [ -z "$digest" ]; then
  echo "buildkit reported no image digest for $image" >&2
  exit 1
fi
printf '%s' "$digest" > "$OUT_DIR/image_digest"
printf '%s@%s' "$image" "$digest" > "$OUT_DIR/image_ref"
"""

# The tools image straight from git: BuildKit fetches the repository itself, no clone step, no cache to trust.
BUILD_TOOLS = """set -eu
buildctl-daemonless.sh build \\
  --frontend dockerfile.v0 \\
  --opt "context=$REPO_URL#$REVISION" \\
  --opt filename=docker/tools.Dockerfile \\
  --opt "build-arg:MODEL_REQUIREMENTS=$MODEL_REQUIREMENTS" \\
  --output "type=image,name=$IMAGE,push=true"
"""


def _buildkit_security() -> Any:
    """Rootless BuildKit needs no privileges, only unconfined seccomp/AppArmor for its user namespaces."""
    from hera.workflows.models import AppArmorProfile, SeccompProfile, SecurityContext

    return SecurityContext(
        run_as_user=BUILDKIT_UID,
        run_as_group=BUILDKIT_UID,
        run_as_non_root=True,
        seccomp_profile=SeccompProfile(type="Unconfined"),
        app_armor_profile=AppArmorProfile(type="Unconfined"),
    )


def _buildkit_env(extra: dict[str, str]) -> list:
    from hera.workflows import Env

    env = {"BUILDKITD_FLAGS": "--oci-worker-no-process-sandbox", "DOCKER_CONFIG": DOCKER_CONFIG, **extra}
    return [Env(name=k, value=v) for k, v in env.items()]


def _registry_auth(cfg: Config) -> Any:
    from hera.workflows import SecretVolume
    from hera.workflows.models import KeyToPath

    return SecretVolume(
        name="registry-auth",
        secret_name=cfg.workflows.registry_auth_secret,
        mount_path=DOCKER_CONFIG,
        read_only=True,
        default_mode=0o444,
        items=[KeyToPath(key=".dockerconfigjson", path="config.json")],
    )


def build_template(cfg: Config, s: Step) -> Any:
    """One pod, two containers sharing the state dir: `cxops step build` prepares the context and names the image,
    then BuildKit (the `main` container, whose files Argo reads outputs from) builds and pushes it."""
    from hera.workflows import ContainerNode, ContainerSet, EmptyDirVolume, Parameter
    from hera.workflows.models import PodSecurityContext, ValueFrom, VolumeMount

    outputs = [*s.outputs, "image_digest", "image_ref"]
    with ContainerSet(
        name=s.id,
        inputs=[Parameter(name="version")],
        outputs=[Parameter(name=o, value_from=ValueFrom(path=f"{OUT_DIR}/{o}")) for o in outputs],
        volumes=[EmptyDirVolume(name="workspace"), _registry_auth(cfg)],
        volume_mounts=[VolumeMount(name="workspace", mount_path=STATE_DIR)],
        pod_security_context=PodSecurityContext(fs_group=BUILD_FS_GROUP),
        active_deadline_seconds=s.timeout_seconds,
        retry_strategy=retry_strategy(s.retries, s.timeout_seconds * (s.retries + 1)) if s.retries else None,
        annotations={"cxops.dev/step": s.id, "cxops.dev/description": s.description},
    ) as cs:
        prepare = ContainerNode(
            name="prepare",
            image=names.tools_image(cfg),
            image_pull_policy="IfNotPresent",
            command=["cxops", "step", s.command],
            args=["{{inputs.parameters.version}}", "--outputs-dir", OUT_DIR],
            env=base_env(cfg),
            security_context=security_context(),
        )
        push = ContainerNode(
            name="main",
            image=cfg.workflows.builder_image,
            image_pull_policy="IfNotPresent",
            command=["sh", "-c", PUSH_SERVING],
            env=_buildkit_env({"OUT_DIR": OUT_DIR, "PUSH_REGISTRY": names.registry_in_cluster(cfg)}),
            volume_mounts=[VolumeMount(name="registry-auth", mount_path=DOCKER_CONFIG, read_only=True)],
            security_context=_buildkit_security(),
        )
        prepare >> push
    return cs


def tools_image_template(cfg: Config, name: str = "build-tools-image") -> Any:
    from hera.workflows import Container, Parameter

    w = cfg.workflows
    return Container(
        name=name,
        image=w.builder_image,
        image_pull_policy="IfNotPresent",
        command=["sh", "-c", BUILD_TOOLS],
        inputs=[
            Parameter(name="repo_url", default=w.repo_url),
            Parameter(name="revision", default=w.repo_revision),
            Parameter(name="image", default=names.tools_image(cfg)),
            Parameter(name="model_requirements", default=" ".join(cfg.model.requirements)),
        ],
        env=_buildkit_env(
            {
                "REPO_URL": "{{inputs.parameters.repo_url}}",
                "REVISION": "{{inputs.parameters.revision}}",
                "IMAGE": "{{inputs.parameters.image}}",
                "MODEL_REQUIREMENTS": "{{inputs.parameters.model_requirements}}",
            }
        ),
        volumes=[_registry_auth(cfg)],
        security_context=_buildkit_security(),
        active_deadline_seconds=1800,
        retry_strategy=retry_strategy(2, 3 * 1800),
    )
