// placeholder
export async function instancePage() { return { title: "Instance", nodes: [] }; }
