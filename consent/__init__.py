"""Consent and mandates: the artefact, its signature, the decision and the store.

Pure domain code: no gRPC, no generated types, nothing from ``gateway``. The public surface
is re-exported here; :mod:`consent.store` and :mod:`consent.migrations` hold the I/O.
"""

from consent.decision import (
    Allowed,
    Basis,
    ConsentState,
    UseRequest,
    decide_consent,
    decide_mandate,
)
from consent.errors import (
    ConsentDeniedError,
    ConsentError,
    DenialReason,
    DuplicateError,
    IllegalTransitionError,
    InvalidArtefactError,
    SchemaError,
    SignatureDefect,
    SignatureError,
    TemplateViolationError,
    UnknownConsentError,
    UnknownMandateError,
)
from consent.mandate import Mandate
from consent.model import (
    AttributeRef,
    CollectionMethod,
    ConsentArtefact,
    DataConsumer,
    FetchType,
    Frequency,
    Grantor,
    GuardianRelation,
    HouseholdCoverage,
    Providers,
    Scope,
    Validity,
    refs,
)
from consent.signing import ConsentSigner, JwksVerifier, jwk_set, public_jwk
from consent.status import ConsentStatus, HistoryEvent, MandateStatus, effective_status
from consent.template import ConsentTemplate, fits, widest_artefact

__all__ = [
    "Allowed",
    "AttributeRef",
    "Basis",
    "CollectionMethod",
    "ConsentArtefact",
    "ConsentDeniedError",
    "ConsentError",
    "ConsentSigner",
    "ConsentState",
    "ConsentStatus",
    "ConsentTemplate",
    "DataConsumer",
    "DenialReason",
    "DuplicateError",
    "FetchType",
    "Frequency",
    "Grantor",
    "GuardianRelation",
    "HistoryEvent",
    "HouseholdCoverage",
    "IllegalTransitionError",
    "InvalidArtefactError",
    "JwksVerifier",
    "Mandate",
    "MandateStatus",
    "Providers",
    "SchemaError",
    "Scope",
    "SignatureDefect",
    "SignatureError",
    "TemplateViolationError",
    "UnknownConsentError",
    "UnknownMandateError",
    "UseRequest",
    "Validity",
    "decide_consent",
    "decide_mandate",
    "effective_status",
    "fits",
    "jwk_set",
    "public_jwk",
    "refs",
    "widest_artefact",
]
