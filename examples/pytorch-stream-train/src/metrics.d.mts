export declare function accuracy(probabilities: readonly number[], outcomes: readonly boolean[]): number;
export declare function areaUnderRoc(probabilities: readonly number[], outcomes: readonly boolean[]): number;
