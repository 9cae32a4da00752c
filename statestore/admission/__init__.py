"""ValidatingAdmissionPolicy (``admissionregistration.k8s.io/v1``) evaluated with CEL."""
