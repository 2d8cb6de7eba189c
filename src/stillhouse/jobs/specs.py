"""The local model specs a customization job's identifiers stand for."""

from __future__ import annotations

from stillhouse.jobs.schema import CreateModelCustomizationJobRequest


def local_specs(req: CreateModelCustomizationJobRequest) -> tuple[str, str | None]:
    """(student spec, teacher spec) of a job: Bedrock model ids (``amazon.nova-micro-v1:0:128k``)
    mapped through the foundation-model table, any other identifier kept as the spec it is.

    The table is the process's (:func:`stillhouse.models.foundation.active_table`): the server and
    the job workers it starts read the same file, so a job maps ids as its CreateModelCustomizationJob
    was checked. An id the table lacks is ResourceNotFoundException, as Bedrock answers."""
    from stillhouse.models.foundation import active_table

    table = active_table()
    student = table.spec_for(req.baseModelIdentifier, "baseModelIdentifier")
    teacher = req.teacher.teacherModelIdentifier if req.teacher else None
    field = "customizationConfig.distillationConfig.teacherModelConfig.teacherModelIdentifier"
    return student, table.spec_for(teacher, field) if teacher else None
