"""A pytest plugin for mutation runs only: mutmut's trampolines pass through Temporal's sandbox.

A mutated module imports ``mutmut``'s trampoline at its top. Inside the workflow sandbox that
import would be a fresh, restricted copy: it could not read which mutant is under test (the
sandbox forbids ``os.environ``) nor record which tests reach a workflow method. Passing the
package through, as the sandbox does for the standard library, keeps one real copy.

The default restrictions are one shared object, read by every ``Worker`` built without a
runner of its own, so the set is extended in place before any test builds a worker.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxRestrictions

SandboxRestrictions.default.passthrough_modules.add("mutmut")
