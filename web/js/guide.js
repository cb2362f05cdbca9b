// The four ticket types in the support guide's words, and the rules the API applies to each.
// The task rule and its message are the API's own (support_common.models.task_description_problem);
// a browser test checks that both give the same verdict.

export const TYPES = [
  {
    value: "incident",
    name: "Incident",
    summary: "Something is not working.",
    detail: "An unplanned event that hurts the service: if something isn't getting the expected result, "
      + "it is an incident and needs investigation. If your site is down, it is an incident with the "
      + "priority Urgent: alarm bells ring and on-call gets to work at once.",
  },
  {
    value: "problem",
    name: "Problem",
    summary: "The cause behind incidents.",
    detail: "The known or suspected cause of one or more incidents, which you want tracked and worked on. "
      + "Problems take longer: a proper solution is thought out. Link the incidents it causes.",
  },
  {
    value: "task",
    name: "Task",
    summary: "Work for the team.",
    detail: "Provisioning infrastructure, access to a tool or service, or an operation that needs a cloud "
      + "engineer. Tasks must be well described: what should be done, where, and by when.",
  },
  {
    value: "question",
    name: "Question",
    summary: "A question.",
    detail: "A technical question, or clarification on a feature? Ask!",
  },
];

export const PRIORITIES = ["low", "normal", "high", "urgent"];
export const STATUSES = ["open", "acknowledged", "resolved", "closed"];

export const TASK_MIN_CHARS = 40;
export const TASK_MIN_WORDS = 8;

/** What a task's description lacks, in the API's words; null when it is enough. */
export function taskDescriptionProblem(description) {
  const words = description.split(/\s+/).filter(Boolean);
  if ([...description.trim()].length < TASK_MIN_CHARS || words.length < TASK_MIN_WORDS) {
    return "a task must be well described: say what should be done, on which site or environment, "
      + `and by when (at least ${TASK_MIN_WORDS} words and ${TASK_MIN_CHARS} characters)`;
  }
  return null;
}

export const ENVIRONMENT_MISSING =
  "an incident must name the site or environment affected (e.g. production, www.example.com)";
