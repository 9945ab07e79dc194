// placeholder
export async function casesPage() { return { title: "Cases", nodes: [] }; }
export async function casePage() { return { title: "Case", nodes: [] }; }
