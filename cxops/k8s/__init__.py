"""The GitOps platform ArgoCD syncs: app-of-apps, platform services from pinned upstream charts, monitoring as code.

Everything under k8s/argocd/ and k8s/platform/ is rendered from cxops.yaml by `cxops k8s render` (docs/platform.md).
"""
